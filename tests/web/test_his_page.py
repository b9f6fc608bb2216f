"""The administrator's HIS tab in Chromium, in Chinese and in English: a clinic's endpoint set
in the page, a report the clinic's HIS refused shown in words, and sent again from the page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.lab.his_peer import FakeHis, clinic_id, deliver, sign_ecg_report
from tests.web.conftest import Browsers, screenshot, sqlite_only
from tests.web.test_language import language_problems, sign_in

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # pages do not depend on the backend


async def _his_tab(page: Any) -> None:
    await page.click("#tab-his")
    await page.wait_for_selector("#admin-body table.his-links tbody tr")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_admin_sets_a_his_link_and_sends_again(
    api: Api, browsers: Browsers, lang: str
) -> None:
    admin = await api.login("admin")
    xihe = await clinic_id(admin, "th-xihe")
    receiver = FakeHis("th-xihe", [("AE", "PID-3 患者未登记")])
    port = await receiver.start()
    try:
        page = await browsers.page(lang=lang)
        await page.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
        await sign_in(page, "admin")
        await page.wait_for_selector("#tab-his")
        await _his_tab(page)
        row = page.locator(f"table.his-links tr[data-institution='{xihe}']")
        await row.locator("input[name=host]").fill("127.0.0.1")
        await row.locator("input[name=port]").fill(str(port))
        async with page.expect_response(lambda r: r.request.method == "PUT") as put:
            await row.locator("button.save-his").click()
        assert (await put.value).status == 200
        assert (await admin.get(f"/api/v1/institutions/{xihe}/his")).ok()["port"] == port

        await sign_ecg_report(api, "dr-township", "窦性心律")
        assert await deliver(api) == 0  # AE: stopped, a person looks
        await _his_tab(page)
        stopped = page.locator("table.his-stopped tbody tr")
        await stopped.first.wait_for()
        outcome = await stopped.first.locator("td.outcome").inner_text()
        expected = "对方报告消息错误" if lang == "zh-CN" else "The HIS found the message wrong"
        assert expected in outcome and "PID-3 患者未登记" in outcome
        bad = await language_problems(page, api, lang)
        assert not bad, bad
        await screenshot(page, f"admin-his-{lang}")

        await stopped.first.locator("button.retry-his").click()
        await page.wait_for_selector("#his-none")
        assert await deliver(api) == 1
        assert len(receiver.received) == 2
    finally:
        await receiver.stop()
