"""Issue 17: the public ``/verify`` page limits unknown codes per client address.

The page needs no sign-in (the code printed on a report is the key), so it is the one patient-facing
door anybody may knock at. Unknown codes count against the caller's address; past the limit the page
answers 429 with ``Retry-After`` and does not look the code up; known codes are never counted, and
another address is not slowed.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from consult.models import Report
from tests.conftest import Api, Database, make_settings
from tests.lab.his_peer import sign_ecg_report
from web.app import create_app

CLIENT = "203.0.113.7"
OTHER = "203.0.113.9"
LIMIT = 3


async def _signed_token(api: Api) -> str:
    report = await sign_ecg_report(api, "dr-village", "窦性心律")
    async with api.center.work() as work:
        stored = await work.session.get(Report, report["id"])
        assert stored is not None and stored.verify_token
        return stored.verify_token


async def _look_up(client: TestClient, token: str, address: str) -> tuple[int, str, str]:
    async with client.get(f"/verify/{token}", headers={"X-Forwarded-For": address}) as r:
        return r.status, r.headers.get("Retry-After", ""), await r.text()


async def test_unknown_codes_are_throttled_per_address(
    tmp_path: Path, seeded_database: Database
) -> None:
    settings = make_settings(
        tmp_path,
        seeded_database,
        trusted_proxies=["127.0.0.1"],
        verify_misses_per_minute=LIMIT,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        token = await _signed_token(Api(client))

        for _ in range(LIMIT + 2):  # a code that is known never counts
            status, _, html = await _look_up(client, token, CLIENT)
            assert status == 200 and "已签发" in html

        for guess in range(LIMIT):
            status, _, _ = await _look_up(client, f"{guess:032d}", CLIENT)
            assert status == 404
        status, retry, html = await _look_up(client, "0" * 32, CLIENT)
        assert status == 429 and 1 <= int(retry) <= 60
        assert "查询过于频繁" in html and "Too many look-ups" in html
        # the throttled address gets no answer about a real code either: nothing is looked up
        status, _, html = await _look_up(client, token, CLIENT)
        assert status == 429 and "已签发" not in html
        # a malformed code counts as a miss and is refused the same way
        assert (await _look_up(client, "x'--", CLIENT))[0] == 429

        # another clinic's address is not slowed
        assert (await _look_up(client, "1" * 32, OTHER))[0] == 404
        assert (await _look_up(client, token, OTHER))[0] == 200
