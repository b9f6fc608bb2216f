"""In Chromium: the ECG reader signs and refers from the ECG page; cardiology's desk sees the
referral arrive live, opens the report behind it and accepts it into a published slot; the village
doctor sees the referral and its slot live (1280 px), and on a 390 px phone."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import stemi_zip
from tests.ecg_center.test_ecg_api import upload
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js
from tests.web.test_ecg_flow import ecg_api_present

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the API tests cover both backends

LIVE = (
    "document.getElementById('live') && !document.getElementById('live').classList.contains('off')"
)


async def test_reader_refers_from_the_ecg_page_and_cardiology_books_a_slot(
    api: Api, browsers: Browsers
) -> None:
    if not ecg_api_present(api):
        pytest.skip("the ECG upload API is not wired")
    village_api = await api.login("dr-village")
    patient = await new_patient(village_api, "赵大山")
    status, body = await upload(
        village_api, patient["id"], stemi_zip(), "stemi.zip", clinical_question="胸痛1小时"
    )
    assert status == 201, body
    request_id = body["request"]["id"]

    # cardiology's desk and the village doctor have their pages open
    cardio = await browsers.login("cardio-desk", width=1280)
    assert cardio.url.endswith("/referrals")
    assert await cardio.inner_text("#referrals-title") == "科室转诊接诊"
    await cardio.wait_for_selector("#capacity tr[data-slot]")  # the demo's published week
    await wait_js(cardio, LIVE)
    village = await browsers.login("dr-village", width=1280)
    await village.wait_for_selector("#referrals")
    await wait_js(village, LIVE)

    # the reader signs on the ECG page and refers from it
    reader = await browsers.login("ecg-reader", width=1280)
    await reader.goto(f"/ecg/{request_id}")
    await reader.wait_for_selector("#refer")
    await reader.click("#sign")
    await reader.wait_for_selector("#signed-note")
    await reader.click("#refer")
    await reader.wait_for_selector("#refer-dialog")
    assert await reader.input_value("#refer-form select[name=department]") == "cardiology"
    assert await reader.input_value("#refer-form select[name=urgency]") == "stat"
    await reader.fill("#refer-form textarea[name=reason]", "急性前壁STEMI, 绿色通道急诊PCI")
    await screenshot(reader, "referral-from-ecg-dialog")
    await reader.click("#refer-send")
    referred = reader.locator("#referred")
    await referred.wait_for()
    assert "心内科" in await referred.inner_text()
    referral_id = int(await referred.get_attribute("data-id") or 0)
    await screenshot(reader, "referral-from-ecg")

    # the page shows the open referral instead of a second refer action
    await reader.reload()
    await reader.wait_for_selector("#referred")
    assert not await reader.locator("#refer").count()

    # cardiology sees it arrive without a reload, opens the report, accepts into a slot
    row = cardio.locator(f"#referral-list tr[data-id='{referral_id}']")
    await row.wait_for(timeout=15_000)
    assert "急性前壁STEMI" in await row.inner_text()
    await row.locator("button.view-report").click()
    report = cardio.locator(f"tr[data-report-for='{referral_id}'] .report-card")
    await report.wait_for()
    assert "签发" in await report.inner_text()
    slot_text = await cardio.inner_text("#capacity tr[data-slot] >> nth=0")
    await row.locator("button.accept").click()
    choice = cardio.locator("dialog select[name=slot_id]")
    await choice.wait_for()
    chosen = await choice.locator("option").first.inner_text()
    assert "导管室" in chosen or "病" in chosen or "门诊" in chosen or "抢救" in chosen
    assert "T" not in chosen.split("·")[2]  # a time for people, not ISO
    await screenshot(cardio, "referral-department-accept")
    await cardio.click("dialog button.primary")
    await row.locator("button.arrive").wait_for()
    assert "已接收" in await row.inner_text()
    await screenshot(cardio, "referral-department")
    assert slot_text

    # the same page in English: headers, statuses, kinds and times in English
    await cardio.click("#lang")
    await cardio.wait_for_selector("#capacity tr[data-slot]")
    assert await cardio.inner_text("#referrals-title") == "Department referrals"
    assert "Accepted" in await row.inner_text()
    heads = await cardio.inner_text("#referral-list thead") + await cardio.inner_text(
        "#capacity thead"
    )
    assert not re.search(r"[\u4e00-\u9fff]", heads), heads
    kinds = await cardio.locator("#capacity tbody td:nth-child(2)").all_inner_texts()
    assert set(kinds) <= {"Cath lab", "Ward bed", "Clinic session", "Resuscitation / ICU bed"}
    await screenshot(cardio, "referral-department-en")

    # the village doctor sees the referral and its slot live, on the desk and on the phone
    place = (await row.locator("td.slot").inner_text()).split("\n")[0].split("·")[-1].strip()
    await village.wait_for_selector(f"#referrals >> text={place}", timeout=15_000)
    await screenshot(village, "referral-clinic")
    phone = await browsers.login("dr-village", width=390, height=844)
    await phone.wait_for_selector(f"#referrals >> text={place}")
    await screenshot(phone, "referral-clinic-390")
    await phone.goto("/referrals")
    phone_row = phone.locator(f"#referral-list tr[data-id='{referral_id}']")
    await phone_row.wait_for()
    assert place in await phone_row.inner_text()
    assert not await phone_row.locator("button.accept").count()  # clinics do not accept
    await screenshot(phone, "referral-list-390")
