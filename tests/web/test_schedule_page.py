"""The village doctor books a CT at the township from the clinic console, on a 390 px phone and on
a desk screen, in Chinese and in English: the booking shows in the request's row, the time is the
center's wall clock whatever the browser's zone, and a slot already taken is said in words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient
from tests.imaging.conftest import DEVICE
from tests.web.conftest import Browsers, screenshot, sqlite_only
from tests.web.test_language import PHONE_CHECK, language_problems, sign_in

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # pages do not depend on the backend

TAKEN = {"zh-CN": "该设备此时段已被预约", "en": "That scanner is booked at this time"}


async def _imaging_request(village: ApiUser, name: str) -> dict[str, Any]:
    patient = await new_patient(village, name)
    body = {"patient_id": patient["id"], "kind": "imaging_read", "clinical_question": "咳嗽两周"}
    return (await village.post("/api/v1/requests", body)).ok()  # type: ignore[no-any-return]


async def _book(page: Any, request_id: int, day: str, time: str) -> None:
    await page.locator(f"#requests tr[data-id='{request_id}'] button.schedule").click()
    form = page.locator("#schedule-form")
    await form.locator("select[name=station_aet]").select_option(DEVICE)
    await form.locator("input[name=date]").fill(day)
    await form.locator("input[name=time]").fill(time)
    await form.locator("input[name=description]").fill("胸部平扫")
    await form.locator("button.primary").click()


@pytest.mark.parametrize(("lang", "width"), [("zh-CN", 390), ("en", 1366)])
async def test_village_doctor_books_a_ct_at_the_township(
    api: Api, browsers: Browsers, lang: str, width: int
) -> None:
    village = await api.login("dr-village")
    first = await _imaging_request(village, "吴十")
    second = await _imaging_request(village, "郑十一")

    page = await browsers.page(lang=lang, width=width, height=844)
    await page.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
    await page.emulate_media(color_scheme="light")
    await sign_in(page, "dr-village")
    await page.wait_for_selector(f"#requests tr[data-id='{first['id']}'] button.schedule")

    await _book(page, first["id"], "2026-12-08", "09:30")
    booked = page.locator(f"#requests tr[data-id='{first['id']}'] .booked")
    await booked.wait_for()
    assert "2026-12-08 09:30" in await booked.inner_text() and DEVICE in await booked.inner_text()
    step = (await village.get(f"/api/v1/requests/{first['id']}/schedule")).ok()
    assert step["start"].startswith("2026-12-08T09:30:00+08:00"), step  # the center's clock
    assert step["description"] == "胸部平扫" and step["status"] == "SCHEDULED"

    # the same scanner at the same time for another patient: refused, said in the page's words
    await _book(page, second["id"], "2026-12-08", "09:30")
    await page.locator("#schedule-form .form-error", has_text=TAKEN[lang]).wait_for()
    bad = await language_problems(page, api, lang)
    assert not bad, bad
    await screenshot(page, f"clinic-schedule-taken-{lang}-{width}")
    await page.locator("#schedule-form input[name=time]").fill("10:00")
    await page.locator("#schedule-form button.primary").click()
    await page.locator(f"#requests tr[data-id='{second['id']}'] .booked").wait_for()
    assert (
        (await village.get(f"/api/v1/requests/{second['id']}/schedule"))
        .ok()["start"]
        .startswith("2026-12-08T10:00")
    )

    got = await page.evaluate(PHONE_CHECK)
    assert got["wide"] <= got["w"] and not got["outside"], got
    await screenshot(page, f"clinic-schedule-{lang}-{width}")
