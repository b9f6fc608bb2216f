"""The charges page on the township's phone (390 px, Chinese): the day's list, a payment recorded
from it, the month's settlement; nothing scrolls sideways and no label is left untranslated."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient, new_request
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js
from tests.web.test_language import (
    ALLOWED_LATIN,
    PHONE_CHECK,
    VISIBLE_TEXT,
    data_words,
    problems_zh,
    settle,
    sign_in,
    track_requests,
)

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")


async def test_the_township_pays_on_a_phone(api: Api, browsers: Browsers) -> None:
    township = await api.login("dr-township")
    patient = await new_patient(township, "收费页患者")
    await new_request(township, patient["id"], "ecg_read")
    phone = await browsers.page(width=390, height=844)
    track_requests(phone)
    await sign_in(phone, "dr-township")
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    await phone.goto("/charges")
    await phone.wait_for_selector("#charges-daily .charge-actions")
    await phone.wait_for_selector("#charges-month table")
    await settle(phone)
    got = await phone.evaluate(PHONE_CHECK)
    assert got["wide"] <= got["w"] and not got["outside"], got
    seen = await phone.evaluate(VISIBLE_TEXT)
    assert not problems_zh(seen, ALLOWED_LATIN | await data_words(api))
    await screenshot(phone, "charges-phone")
    await phone.click("#charges-daily .charge-actions button.primary")
    await wait_js(phone, "document.querySelector('#charges-daily').textContent.includes('已缴费')")
    assert not errors
    day = (await township.get("/api/v1/charges/daily")).ok()
    assert [r["charge"]["status"] for r in day["rows"]] == ["paid"]
