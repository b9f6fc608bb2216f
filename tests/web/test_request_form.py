"""The clinic's request form on a slow network: the catalogues (lab tests, county departments)
arrive after the doctor has already chosen a kind and typed the question; what was chosen and
typed stays, and the lab-test list fills in when its catalogue arrives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Api
from tests.web.conftest import Browsers, sqlite_only

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")

QUESTION = "活动后气短两周，请会诊"


async def held(page: Any, pattern: str) -> asyncio.Event:
    """Hold every response matching ``pattern`` until the returned event is set."""
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        await release.wait()
        await route.continue_()

    await page.route(pattern, hold)
    return release


async def test_a_late_catalogue_keeps_what_the_doctor_entered(api: Api, browsers: Browsers) -> None:
    page = await browsers.login("dr-village", width=390, height=844)
    release = await held(page, "**/api/v1/institutions")
    await page.goto("/clinic")
    await page.click("#patient-results li button.link >> nth=0")
    await page.select_option("#request-kind", "video_consult")
    await page.fill("#request-form textarea[name=clinical_question]", QUESTION)
    async with page.expect_response("**/api/v1/institutions"):
        release.set()
    await page.wait_for_timeout(200)  # the page's handler runs after the response
    assert await page.input_value("#request-kind") == "video_consult"
    question = "#request-form textarea[name=clinical_question]"
    assert await page.input_value(question) == QUESTION
    await page.click("#request-submit")
    await page.locator("#requests tr", has_text="视频会诊").first.wait_for()


async def test_the_test_list_fills_in_when_its_catalogue_arrives(
    api: Api, browsers: Browsers
) -> None:
    page = await browsers.login("dr-village")
    release = await held(page, "**/api/v1/lab/tests")
    await page.goto("/clinic")
    await page.click("#patient-results li button.link >> nth=0")
    await page.select_option("#request-kind", "lab_test")
    await page.select_option("#request-form select[name=priority]", "urgent")
    assert await page.locator("#lab-tests input[name=tests]").count() == 0
    release.set()
    await page.locator("#lab-tests input[name=tests]").first.wait_for()
    assert await page.input_value("#request-kind") == "lab_test"
    assert await page.input_value("#request-form select[name=priority]") == "urgent"
