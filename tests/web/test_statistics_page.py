"""The statistics page: the supervisor lands on it on a phone (390 px, Chinese), the administrator
opens it from the menu on a desktop (English); its figures are the API's, its charts are drawn in
the page, nothing scrolls sideways, no label is left untranslated, and the CSV downloads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient, new_request
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js
from tests.web.test_language import (
    ALLOWED_LATIN,
    PHONE_CHECK,
    VISIBLE_TEXT,
    data_words,
    patient_names,
    problems_en,
    problems_zh,
    settle,
    sign_in,
    track_requests,
)

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")


async def some_requests(api: Api) -> None:
    """Three ECG requests of dr-village, one read and signed (positive), and one imaging of
    dr-township."""
    village, township = await api.login("dr-village"), await api.login("dr-township")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "统计页患者")
    for index in range(3):
        request = await new_request(village, patient["id"], "ecg_read", "stat")
        if index == 0:
            (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
            report = f"/api/v1/requests/{request['id']}/reports"
            body = {"findings": "窦性心动过速", "data": {"outcome": "positive"}}
            draft = (await reader.post(report, body)).ok()
            (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    other = await new_patient(township, "镇统计患者")
    await new_request(township, other["id"], "imaging_read", "urgent")


async def figure(page: Any, fid: str) -> str:
    return str(await page.inner_text(f"#{fid} .figure-value"))


async def test_the_supervisor_on_a_phone(api: Api, browsers: Browsers) -> None:
    await some_requests(api)
    stats = (await (await api.login("supervisor")).get("/api/v1/statistics")).ok()
    phone = await browsers.page(width=390, height=844)
    track_requests(phone)
    await sign_in(phone, "supervisor")
    await phone.wait_for_url("**/statistics")
    await phone.wait_for_selector("#stat-volumes svg")
    await settle(phone)
    assert await figure(phone, "fig-requests") == str(sum(v["requests"] for v in stats["volumes"]))
    assert await figure(phone, "fig-completed") == "1"
    assert await phone.locator("#stat-turnaround svg rect").count() >= 2
    positives = phone.locator("#stat-positives tr[data-kind=ecg_read] td.share")
    assert await positives.inner_text() == "100%"  # the one signed ECG was called positive
    assert (
        await phone.locator("#stat-workload tr[data-kind=ecg_read] td.signed").inner_text() == "1"
    )
    got = await phone.evaluate(PHONE_CHECK)
    assert got["wide"] <= got["w"] and not got["outside"], got
    seen = await phone.evaluate(VISIBLE_TEXT)
    assert not problems_zh(seen, ALLOWED_LATIN | await data_words(api))
    text = " ".join(seen["texts"])
    for name in await patient_names(api):
        assert name not in text
    await screenshot(phone, "statistics-phone")
    # one township: dr-township's requests only
    township = await phone.eval_on_selector(
        "select[name=institution_id]",
        "s => [...s.options].find((o) => o.text.includes('西河乡')).value",
    )
    await phone.select_option("select[name=institution_id]", township)
    await phone.click("#stat-filter button[type=submit]")
    await wait_js(
        phone, "document.querySelector('#fig-requests .figure-value')?.textContent === '1'"
    )


async def test_the_administrator_in_english(api: Api, browsers: Browsers) -> None:
    await some_requests(api)
    page = await browsers.page(lang="en")
    track_requests(page)
    await page.context.add_init_script("localStorage.setItem('tc.lang', 'en')")
    await sign_in(page, "admin")
    await page.click("#top nav a[href='/statistics']")
    await page.wait_for_selector("#stat-volumes svg")
    await settle(page)
    stats = (await (await api.login("admin")).get("/api/v1/statistics")).ok()
    total = sum(v["requests"] for v in stats["volumes"])
    assert total >= 4 and await figure(page, "fig-requests") == str(total)
    seen = await page.evaluate(VISIBLE_TEXT)
    assert not problems_en(seen, await patient_names(api))
    async with page.expect_download() as info:
        await page.click("#stat-csv")
    download = await info.value
    path = await download.path()
    body = await asyncio.to_thread(Path(path).read_text, encoding="utf-8-sig")
    assert body.startswith("section,institution_id,kind,priority,measure,value")
    assert "turnaround,,ecg_read,stat,completed,1" in body
    await screenshot(page, "statistics-desktop")
