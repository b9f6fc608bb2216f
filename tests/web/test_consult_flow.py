"""A video consult from the clinic's request to the consult opinion in the clinic's inbox, in
Chromium, at 1280 px and on a 390 px phone: the specialist accepts from the worklist, asks the
clinic a question (the request is on hold until the clinic answers), joins the room, writes the
opinion during the call, leaves, signs; the clinic sees it live, prints it, marks it read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the tour runs on SQLite only

QUESTION = "反复胸闷一周，请内科会诊"


async def no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 1, f"the page scrolls sideways by {width} px"


@pytest.mark.parametrize("width", [1280, 390])
async def test_video_consult_to_opinion_in_the_inbox(
    api: Api, media_browsers: Browsers, width: int
) -> None:
    height = 844 if width == 390 else 900
    clinic = await media_browsers.login("dr-village", width=width, height=height)
    await clinic.goto("/clinic")
    await clinic.click("#patient-results li button.link >> nth=0")
    await clinic.select_option("#request-kind", "video_consult")
    await clinic.fill("#request-form textarea[name=clinical_question]", QUESTION)
    await clinic.click("#request-submit")
    row = clinic.locator("#requests tr", has_text="视频会诊").first
    await row.wait_for()
    request_id = int(await row.get_attribute("data-id") or 0)

    doctor = await media_browsers.login("internist", width=width, height=height)
    await doctor.goto("/worklist/video_consult")
    item = doctor.locator(f"#worklist tr[data-id='{request_id}']")
    await item.locator("button", has_text="接收").click()
    await item.locator("td", has_text="已接收").wait_for()
    await item.locator("a", has_text="打开").click()
    await doctor.wait_for_url(f"**/consult/{request_id}")
    await doctor.wait_for_selector("#consult-question >> text=" + QUESTION)
    await doctor.wait_for_selector("#consult-status >> text=已接收")
    await no_sideways_scroll(doctor)

    # the specialist asks; the clinic answers on its console; the request resumes
    await doctor.fill("#hold-question", "血压多少？是否服用降压药？")
    await doctor.click("#hold")
    await doctor.wait_for_selector("#consult-status >> text=待补充信息")
    form = clinic.locator(f".hold-answer-form[data-request='{request_id}']")
    await form.locator(".hold-question", has_text="是否服用降压药").wait_for()
    await form.locator("input").fill("150/95 mmHg，未服药")
    await form.locator("button").click()
    await doctor.wait_for_selector("#holds >> text=150/95 mmHg，未服药")
    await doctor.wait_for_selector("#consult-status >> text=已接收")
    await screenshot(doctor, f"consult-page-{width}")

    # a short room: the specialist writes the opinion during the call, leaves, then signs
    await doctor.click("#open-room")
    await doctor.wait_for_selector("#join")
    await doctor.click("#join")
    await wait_js(doctor, "window.__room && window.__room.role === 'member'")
    await doctor.click("#opinion-toggle")
    await doctor.fill("#opinion-findings-input", "血压 150/95 mmHg，心肺听诊无异常")
    await doctor.fill("#opinion-advice-input", "原发性高血压2级，开始降压治疗")
    await doctor.check("input[name=plan-kind][value=follow_up]")
    await doctor.fill("#plan-date", "2099-01-15")
    await doctor.fill("#plan-instructions-input", "氨氯地平 5 mg 每日一次，两周后复诊")
    await doctor.click("#opinion-save")
    await doctor.click("#leave")
    await wait_js(doctor, "window.__room.ended === true")
    assert await doctor.is_visible("#room-opinion")
    await doctor.click("#opinion-sign")
    await doctor.wait_for_selector("#room-opinion #signed-note")
    await screenshot(doctor, f"consult-room-opinion-{width}")

    # the clinic: live into the inbox, printed with the plan, marked read
    delivered = clinic.locator("#inbox tr.unread", has_text="原发性高血压2级")
    await delivered.wait_for()
    assert "视频会诊" in await delivered.inner_text()
    await wait_js(
        clinic,
        f"!document.querySelector('#requests tr[data-id=\"{request_id}\"]')"
        ".textContent.includes('处理中')",
    )
    assert "已完成" in await clinic.locator(f"#requests tr[data-id='{request_id}']").inner_text()
    await screenshot(clinic, f"consult-clinic-inbox-{width}")
    await delivered.locator("a", has_text="打印").click()
    await clinic.wait_for_selector("#plan-view >> text=随访")
    text = await clinic.inner_text("#report-sheet")
    assert "2099-01-15" in text and "氨氯地平" in text and "经视频会诊" in text
    assert "follow_up" not in text and "final" not in text.split("·")[0]
    await clinic.go_back()
    await clinic.locator("#inbox tr.unread .mark-read").first.click()
    await clinic.wait_for_selector("#inbox tr:not(.unread) >> text=原发性高血压2级")
