"""The patient's records elsewhere in the region, as the people live it, in Chinese and in
English: the village doctor records the patient's consent on a 390 px phone; the ECG reader then
sees the region's discharge summary, report and admission as a timeline beside the tracing, and
a record of another patient the platform sent along is left out and said so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_ecg_api import upload
from tests.fhir.regional_peer import RegionalPeer, serving
from tests.fhir.test_regional import BIRTH, HOSPITAL, RID, center_with_region, seeded_region
from tests.web.conftest import Browsers, screenshot, sqlite_only
from tests.web.test_language import PHONE_CHECK, language_problems, sign_in
from web.settings import Settings

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # pages do not depend on the backend

REGION_WORDS = {
    "出院小结",
    HOSPITAL,
    "冠心病支架术后",
    "冠脉造影",
    "支架通畅",
    "心内科住院",
    "区域平台",
}
CONSENTED = {"zh-CN": "区域档案查询", "en": "regional records"}
INPATIENT = {"zh-CN": "住院", "en": "Inpatient"}
LEFT_OUT = {
    "zh-CN": "已略去不属于该患者的记录：1",
    "en": "Records about another patient left out: 1",
}


@pytest.fixture
def region() -> RegionalPeer:
    return seeded_region()


@pytest.fixture
async def api(settings: Settings, region: RegionalPeer) -> AsyncIterator[Api]:
    """The center, with the region's platform configured (the browsers fixture drives it)."""
    async with serving(region) as url, center_with_region(settings, url) as center:
        yield center


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_consent_on_the_phone_then_the_timeline_beside_the_ecg(
    api: Api, browsers: Browsers, region: RegionalPeer, lang: str
) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "钱九", resident_id=RID, birth_date=BIRTH)
    _, ecg = await upload(village, patient["id"], normal_zip(seed=4), "today.zip")

    phone = await browsers.page(lang=lang, width=390, height=844)
    await phone.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
    await sign_in(phone, "dr-village")
    await phone.fill("#patient-search input[name=q]", RID)
    await phone.click("#patient-search button")
    await phone.locator("#patient-results li", has_text=RID).locator("button.link").click()
    await phone.click("#consent-regional")
    chip = phone.locator("#selected-patient .chip.ok", has_text=CONSENTED[lang])
    await chip.wait_for()
    assert RID in await phone.locator("#selected-patient").inner_text()  # the right patient
    assert region.seen == []  # recording the consent asks nothing of the region
    bad = await language_problems(phone, api, lang)
    assert not bad, bad
    got = await phone.evaluate(PHONE_CHECK)
    assert got["wide"] <= got["w"] and not got["outside"], got
    await screenshot(phone, f"clinic-consent-regional-{lang}-390")

    page = await browsers.page(lang=lang)
    await page.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
    await sign_in(page, "ecg-reader")
    await page.goto(f"/ecg/{ecg['request']['id']}")
    await page.locator("#regional-timeline, #regional-status").first.wait_for()
    timeline = page.locator("#history #regional-timeline li")
    assert await timeline.count() == 3, await page.locator("#regional").inner_text()
    assert await timeline.evaluate_all("els => els.map((e) => e.dataset.id)") == [
        "dr-1",
        "doc-1",
        "enc-1",
    ]
    summary = await page.locator("#regional-timeline li[data-id='doc-1']").inner_text()
    assert "出院小结" in summary and "冠心病支架术后" in summary and HOSPITAL in summary
    stay = await page.locator("#regional-timeline li[data-id='enc-1']").inner_text()
    assert INPATIENT[lang] in stay
    assert LEFT_OUT[lang] in await page.locator("#regional-mismatched").inner_text()
    assert "孙十" not in await page.locator("#history").inner_text()
    bad = await language_problems(page, api, lang, REGION_WORDS)
    assert not bad, bad
    await screenshot(page, f"ecg-regional-{lang}")
