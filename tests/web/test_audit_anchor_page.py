"""The auditor's page says, in the reader's language, that the chain's tail was cut."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import delete

from consult.models import AuditRecord
from tests.conftest import Api, Database, make_settings
from tests.core.test_audit_anchor import anchor_now
from tests.web.conftest import Browsers, screenshot, sqlite_only
from web.settings import Settings

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")
CUT = 60  # more records than the page's own sign-in and searches add back


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    return make_settings(tmp_path, seeded_database, audit_anchor_seconds=3600)


async def test_a_cut_tail_is_told_in_chinese_then_in_english(api: Api, browsers: Browsers) -> None:
    await api.login("auditor")
    anchor = await anchor_now(api)
    assert anchor.seq > CUT
    async with api.center.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq > anchor.seq - CUT))

    page = await browsers.login("auditor", width=390, height=844)
    await page.click("#verify-chain")
    await page.wait_for_selector("#anchor-result.bad")
    said = await page.inner_text("#anchor-result")
    chain = await page.inner_text("#chain-result")
    assert "链尾被截断" in said and f"第 {anchor.seq} 条" in said, said
    assert not re.search("[A-Za-z]", said + chain), f"English in the Chinese page: {said} {chain}"
    await screenshot(page, "audit-anchor-cut-390")

    await page.click("#lang")
    await page.wait_for_selector("#verify-chain")
    await page.click("#verify-chain")
    await page.wait_for_selector("#anchor-result.bad")
    said = await page.inner_text("#anchor-result")
    assert "Anchor check failed" in said and "TAIL CUT" in said, said
    assert "unsealed" in await page.inner_text("#chain-result")
