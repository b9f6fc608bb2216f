"""The ECG reader sees the patient's history beside the tracing, in Chinese and in English: today's
STEMI compared with last month's normal ECG (the new ST elevation flagged), the prior ECG one
click away, and the prior request with its signed report; the lab supervisor validating today's
potassium sees the last one released."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip, stemi_zip
from tests.ecg_center.test_ecg_api import upload
from tests.fhir.test_fhir_observations import K, released_potassium
from tests.web.conftest import Browsers, screenshot, sqlite_only
from tests.web.test_language import language_problems, sign_in

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # pages do not depend on the backend

FLAGGED = {"zh-CN": "有显著变化", "en": "Significant change"}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_reader_sees_the_serial_comparison(api: Api, browsers: Browsers, lang: str) -> None:
    village, reader = await api.login("dr-village"), await api.login("ecg-reader")
    patient = await new_patient(village, "既往心电")
    _, prior = await upload(village, patient["id"], normal_zip(seed=2), "prior.zip")
    (await reader.post(f"/api/v1/requests/{prior['request']['id']}/accept")).ok()
    draft = (
        await reader.post(
            f"/api/v1/requests/{prior['request']['id']}/reports",
            {"findings": "窦性心律", "impression": "正常心电图"},
        )
    ).ok()
    (await reader.get(f"/api/v1/ecgs/{prior['ecg']['id']}/samples")).ok()  # the tracing read
    (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    _, current = await upload(village, patient["id"], stemi_zip(seed=2), "current.zip")

    page = await browsers.page(lang=lang)
    await page.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
    await sign_in(page, "ecg-reader")
    await page.goto(f"/ecg/{current['request']['id']}")
    flags = page.locator("#history #serial-flags")
    await flags.wait_for()
    assert FLAGGED[lang] in await flags.inner_text()
    st = await page.locator("table.serial-table tr[data-measure=qrs_ms] td.delta").inner_text()
    a, b = prior["ecg"]["analysis"], current["ecg"]["analysis"]
    delta = round(b["intervals"]["qrs_ms"] - a["intervals"]["qrs_ms"])
    assert st.startswith(("+" if delta > 0 else "") + str(delta)), st
    link = page.locator(f"#history-ecgs li[data-ecg='{prior['ecg']['id']}'] a")
    assert await link.get_attribute("href") == (
        f"/ecg/{prior['request']['id']}?ecg={prior['ecg']['id']}"
    )
    impression = "正常心电图"
    assert impression in await page.locator("#history-requests").inner_text()
    assert await page.input_value("#report-outcome") == "positive"  # the machine's STEMI

    bad = await language_problems(page, api, lang, {impression, "窦性心律"})
    assert not bad, bad
    await screenshot(page, f"ecg-history-{lang}")
    await link.click()
    await page.wait_for_url(f"**/ecg/{prior['request']['id']}?ecg={prior['ecg']['id']}")
    await page.locator("#history #history-none, #history h3").first.wait_for()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_lab_validation_shows_the_patients_history(
    api: Api, browsers: Browsers, lang: str
) -> None:
    village, supervisor = await api.login("dr-village"), await api.login("lab-supervisor")
    patient = await new_patient(village, "既往检验")
    prior = await released_potassium(api, village, patient["id"])
    (await supervisor.post(f"/api/v1/lab/orders/{prior['id']}/release")).ok()
    body = {"patient_id": patient["id"], "tests": [K]}
    today = (await village.post("/api/v1/lab/orders", body)).ok()

    page = await browsers.page(lang=lang)
    await page.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
    await sign_in(page, "lab-supervisor")
    await page.goto(f"/lab?order={today['id']}")
    trend = page.locator(f"#history #history-labs li[data-code='{K}']")
    await trend.wait_for()
    assert "4.1" in await trend.inner_text()
    await page.locator(f"#history-requests li[data-request='{prior['request_id']}']").wait_for()
    assert (
        await page.locator(f"#history-requests li[data-request='{today['request_id']}']").count()
        == 0
    )
    bad = await language_problems(page, api, lang)
    assert not bad, bad
    await screenshot(page, f"lab-history-{lang}")
