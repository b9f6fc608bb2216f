"""The audit chain's anchors outside the database: a cut tail, a rewritten chain and a forged
anchor are reported by ``telecenter audit verify``; the server writes anchors as it runs, off the
event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update

from consult.anchors import Anchor, AnchorDir, AnchorScan, check_anchor, encode, load_key
from consult.audit import record_digest
from consult.models import AuditRecord
from tests.conftest import Api, Database, make_settings
from tests.core.helpers import new_patient
from web import cli, keys
from web.app import create_app
from web.settings import Settings, SettingsError

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    """A server whose anchors the test writes (its periodic task would wait an hour)."""
    return make_settings(tmp_path, seeded_database, audit_anchor_seconds=3600)


async def audit_verify(settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``telecenter --config FILE audit verify`` (its main function, in a thread of its own)."""
    config = settings.data_dir.parent / "cli.toml"
    values = {
        "data_dir": str(settings.data_dir),
        "database_url": settings.database_url,
        "database_schema": settings.database_schema,
    }
    lines = "".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items())
    config.write_text(f"[telecenter]\n{lines}")
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["--config", str(config), "audit", "verify"])
    return code, capsys.readouterr().out


async def anchor_now(api: Api) -> Anchor:
    """Seal what was committed and anchor the head (what the periodic task does)."""
    app = api.client.server.app
    await api.center.audit_log.drain()
    await app[keys.ANCHORS].export()
    newest = scan(app[keys.SETTINGS]).newest
    assert newest is not None and newest.seq == (await head(api))
    return newest


def scan(settings: Settings) -> AnchorScan:
    public = load_key(settings.anchor_key_path).public_key()
    return AnchorDir(settings.anchor_dir_path).scan(public)


async def newest_anchor(settings: Settings) -> Anchor | None:
    """The newest valid anchor, read in a thread (the test's reads stay off the loop too)."""
    return (await asyncio.to_thread(scan, settings)).newest


async def head(api: Api) -> int:
    found = await api.center.audit_log.head()
    assert found is not None
    return found[0]


async def some_actions(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    (await village.get(f"/api/v1/patients/{patient['id']}")).ok()


async def test_a_cut_tail_fails_verification(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await some_actions(api)
    auditor = await api.login("auditor")
    anchor = await anchor_now(api)
    code, out = await audit_verify(settings, capsys)
    assert code == 0, out
    assert "intact" in out and f"anchor matches: seq {anchor.seq}" in out
    seen = (await auditor.get("/api/v1/audit/verify")).ok()
    assert seen["ok"] is True and seen["anchor"]["seq"] == anchor.seq

    async with api.center.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq > anchor.seq - 3))
    assert (await api.center.audit_log.verify()).ok  # the chain alone cannot see it
    code, out = await audit_verify(settings, capsys)
    assert code == 1, out
    assert "intact" in out  # the chain is whole up to its new, shorter end ...
    assert "TAIL CUT: the anchor of " in out and f"holds seq {anchor.seq}" in out
    assert f"ends at seq {anchor.seq - 3}: 3 or more sealed records were removed" in out
    seen = (await auditor.get("/api/v1/audit/verify")).ok()  # the auditor's page says so too
    assert seen["ok"] is False and seen["first_bad_seq"] is None
    assert seen["anchor"]["seq"] == anchor.seq and "TAIL CUT" in seen["anchor_problems"][0]


async def test_anchors_never_move_past_a_cut(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """New records after a cut refill the missing seqs; the exporter still refuses to anchor
    over them, so the evidence stays until someone looks."""
    await some_actions(api)
    anchor = await anchor_now(api)
    async with api.center.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq > anchor.seq - 2))
    await some_actions(api)
    await api.center.audit_log.drain()
    assert await head(api) > anchor.seq
    assert await api.client.server.app[keys.ANCHORS].export() is None
    assert scan(settings).newest == anchor
    code, out = await audit_verify(settings, capsys)
    assert code == 1 and "intact" in out, out
    assert f"seq {anchor.seq}: the chain differs from the anchor" in out


async def test_an_edited_and_rehashed_chain_fails_verification(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await some_actions(api)
    anchor = await anchor_now(api)
    async with api.center.sessions() as session, session.begin():
        await session.execute(
            update(AuditRecord).where(AuditRecord.seq == 3).values(actor="someone-else")
        )
        await rehash_from(session, 3)
    assert (await api.center.audit_log.verify()).ok  # a re-hashed chain verifies on its own
    code, out = await audit_verify(settings, capsys)
    assert code == 1, out
    assert f"seq {anchor.seq}: the chain differs from the anchor" in out


async def rehash_from(session: Any, seq: int) -> None:
    """What an attacker with the database does after editing: recompute every later hash."""
    prev = await session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq - 1))
    records = await session.scalars(
        select(AuditRecord).where(AuditRecord.seq >= seq).order_by(AuditRecord.seq)
    )
    for record in records:
        record.prev_hash = prev
        record.hash = prev = record_digest(record, prev, record.seq)


async def test_a_forged_anchor_fails_verification(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cut the tail, remove the real anchors and put one matching the cut chain in their
    place, signed with another key: reported; and so is a real anchor whose seq was raised."""
    await some_actions(api)
    anchor = await anchor_now(api)
    async with api.center.sessions() as session, session.begin():
        await session.execute(delete(AuditRecord).where(AuditRecord.seq > anchor.seq - 3))
    cut_head = await api.center.audit_log.head()
    assert cut_head is not None
    directory = settings.anchor_dir_path
    real = sorted(directory.glob("anchor-*.json"))
    newest_doc = json.loads(real[-1].read_bytes())
    for path in real:
        path.unlink()
    forged = Anchor(seq=cut_head[0], hash=cut_head[1], at=anchor.at, node=anchor.node)
    name = f"anchor-{forged.seq:012d}-{'0' * 12}.json"
    (directory / name).write_bytes(encode(forged, Ed25519PrivateKey.generate()))

    code, out = await audit_verify(settings, capsys)
    assert code == 1, out
    assert f"AUDIT ANCHOR FAILED: anchor file {name}: signature does not verify" in out

    (directory / name).unlink()
    newest_doc["anchor"]["seq"] = anchor.seq + 50
    raised = directory / f"anchor-{anchor.seq + 50:012d}-{'1' * 12}.json"
    raised.write_text(json.dumps(newest_doc))
    code, out = await audit_verify(settings, capsys)
    assert code == 1 and f"anchor file {raised.name}: signature does not verify" in out, out


async def test_a_center_without_anchors_only_warns(
    tmp_path: Path, seeded_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, seeded_database)
    code, out = await audit_verify(settings, capsys)
    assert code == 0, out
    assert "intact" in out and "WARNING: no audit anchor exported yet" in out
    assert not settings.anchor_key_path.exists()  # verification never creates a key


@pytest.fixture
def anchor_file_access(tmp_path: Path) -> list[tuple[str, str, bool]]:
    """Every file access under the data dir's anchor files and key: (event, path, on the loop's
    thread). Audit hooks stay for the process; this one only matches this test's tmp_path."""
    seen: list[tuple[str, str, bool]] = []
    loop_thread = threading.get_ident()  # pytest-asyncio runs the loop in this thread
    prefixes = (str(tmp_path / "var" / "audit-anchor"),)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in {"open", "os.rename", "os.remove", "os.link", "os.listdir", "os.scandir"}:
            path = str(args[0]) if args else ""
            if path.startswith(prefixes):
                seen.append((event, path, threading.get_ident() == loop_thread))

    sys.addaudithook(hook)
    return seen


async def test_the_server_anchors_while_it_runs_off_the_loop(
    anchor_file_access: list[tuple[str, str, bool]], tmp_path: Path, seeded_database: Database
) -> None:
    settings = make_settings(tmp_path, seeded_database, audit_anchor_seconds=0.1)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        api = Api(client)
        assert stat.S_IMODE(settings.anchor_key_path.stat().st_mode) == 0o600
        for _ in range(3):
            await some_actions(api)
            await api.center.audit_log.drain()
            sealed = await head(api)
            async with asyncio.timeout(5):
                while (newest := await newest_anchor(settings)) is None or newest.seq < sealed:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert newest.node == settings.node_address
            assert dt.datetime.now(dt.UTC) - newest.at < dt.timedelta(seconds=5)
    finally:
        await client.close()
    assert len((await asyncio.to_thread(scan, settings)).anchors) >= 3
    assert any(event == "os.rename" for event, _, _ in anchor_file_access)  # atomic writes
    on_loop = [a for a in anchor_file_access if a[2]]
    assert not on_loop, f"anchor files touched on the event loop: {on_loop[:5]}"


async def test_the_server_anchors_at_shutdown(api: Api, settings: Settings) -> None:
    await some_actions(api)
    await api.center.audit_log.drain()
    final = await head(api)
    assert await newest_anchor(settings) is None  # the periodic task waits an hour
    await api.client.close()
    last = await newest_anchor(settings)
    assert last is not None and last.seq == final


def test_check_anchor_pure() -> None:
    anchor = Anchor(seq=10, hash="a" * 64, at=dt.datetime.now(dt.UTC), node="n1")
    scan_ = AnchorScan((anchor,), ())
    assert check_anchor(scan_, head=(12, "b" * 64), hash_at_anchor="a" * 64).ok
    cut = check_anchor(scan_, head=(7, "c" * 64), hash_at_anchor=None)
    assert "TAIL CUT" in cut.chain_problem and "3 or more" in cut.chain_problem
    assert (
        "differs" in check_anchor(scan_, head=(10, "d" * 64), hash_at_anchor="d" * 64).chain_problem
    )
    empty = check_anchor(AnchorScan((), ()), head=(5, "e" * 64), hash_at_anchor=None)
    assert empty.ok and empty.warning
    forged = check_anchor(AnchorScan((), (("x.json", "bad"),)), head=None, hash_at_anchor=None)
    assert not forged.ok and not forged.warning
    with pytest.raises(ValueError, match="SHA-256"):
        Anchor(seq=1, hash="../etc", at=anchor.at, node="n1")


async def test_a_bad_key_file_stops_start_up_naming_the_setting(
    tmp_path: Path, seeded_database: Database
) -> None:
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    settings = make_settings(tmp_path, seeded_database, audit_anchor_key=bad)
    client = TestClient(TestServer(create_app(settings)))
    with pytest.raises(SettingsError, match=r"audit_anchor_key: .*not-a-key.pem is not an Ed25519"):
        await client.start_server()
    await client.close()
