"""In Chromium, at 1280 and at 390 px: a village doctor sends an ECG with ST elevation and,
on whatever page is open, sees a critical-alert banner (finding, patient, the clinic's phone)
that stays across reloads until acknowledged — seen in the app, or phoned naming the person;
the ECG reader sees who acknowledged, in the side panel."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import stemi_zip
from tests.ecg_center.test_ecg_api import upload
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js
from tests.web.test_ecg_flow import stemi_csv

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the pages do not depend on the backend
BANNER = "#critical-alerts .critical-banner"


async def no_horizontal_scroll(page: object) -> bool:
    return bool(
        await page.evaluate(  # type: ignore[attr-defined]
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
        )
    )


async def test_village_doctor_sees_and_acknowledges_the_alert(
    api: Api, browsers: Browsers, tmp_path: Path
) -> None:
    # --- 1280 px, Chinese: the upload from the clinic console raises the banner at once
    village = await browsers.login("dr-village", width=1280, height=900)
    await wait_js(village, "!document.getElementById('live').classList.contains('off')")
    await village.locator("#patient-results li button.link").first.click()
    await village.select_option("#request-kind", "ecg_read")
    await village.set_input_files("#ecg-file", str(stemi_csv(tmp_path / "stemi.csv")))
    await village.fill("input[name=csv_fs]", "500")
    await village.click("#request-submit")
    banner = village.locator(BANNER).first
    await banner.wait_for(timeout=60_000)
    text = await banner.inner_text()
    assert "心电图危急值" in text and "ST段抬高" in text, text
    assert "刘家村卫生室" in text and "138 0371 1001" in text
    await screenshot(village, "critical-banner-1280")
    await village.reload()  # it stays until acknowledged
    await village.locator(BANNER).first.wait_for(timeout=20_000)
    alert_id = await village.locator(BANNER).first.get_attribute("data-alert-id")
    await village.locator(BANNER + " button.ack-seen").first.click()
    await village.wait_for_selector(BANNER, state="detached", timeout=20_000)
    await village.reload()
    await village.wait_for_selector("#requests tr.critical", timeout=20_000)
    assert await village.locator(BANNER).count() == 0

    # --- 390 px, English, another page open: the next STEMI (sent from another device) arrives
    phone = await browsers.login("dr-village", width=390, height=844)
    await phone.evaluate("localStorage.setItem('tc.lang', 'en')")
    await phone.goto("/referrals")
    await phone.wait_for_selector("#who .inst")
    await wait_js(phone, "!document.getElementById('live').classList.contains('off')")
    doctor = await api.login("dr-village")
    patient = await new_patient(doctor, "心梗二号")
    status, body = await upload(doctor, patient["id"], stemi_zip(seed=3), "stemi.zip")
    assert status == 201, body
    small = phone.locator(BANNER).first
    await small.wait_for(timeout=30_000)
    text = await small.inner_text()
    assert "Critical ECG" in text and "ST" in text and "心梗二号" in text, text
    assert "Liujia Village Clinic" in text
    assert await no_horizontal_scroll(phone)
    await small.locator("button.ack-phoned").click()  # a call names the person spoken to
    assert await phone.locator(BANNER).count() == 1
    await small.locator("input[name=notified_person]").fill("刘医生")
    await screenshot(phone, "critical-banner-390-en")
    await small.locator("button.ack-phoned").click()
    await phone.wait_for_selector(BANNER, state="detached", timeout=20_000)

    # --- the reader sees who acknowledged, and how
    reader = await browsers.login("ecg-reader", width=1280, height=900)
    await reader.goto(f"/ecg/{body['request']['id']}")
    line = reader.locator("#critical-acks li .ack-line").first
    await line.wait_for(timeout=20_000)
    seen = await line.inner_text()
    assert "刘医生 (刘家村)" in seen and "电话通知" in seen and "刘医生" in seen, seen
    alerts = (await doctor.get(f"/api/v1/alerts?request_id={body['request']['id']}")).ok()
    assert alerts[0]["method"] == "phone" and alerts[0]["notified_person"] == "刘医生"
    first = (await doctor.get("/api/v1/alerts")).ok()
    assert {a["id"]: a["method"] for a in first}[int(alert_id or 0)] == "in_app"
