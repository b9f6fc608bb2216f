"""The audit chain: reads and logins are recorded, and tampering is detected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from consult.models import AuditRecord
from tests.conftest import Api, Database, make_settings
from tests.core.helpers import new_patient

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def test_reads_and_logins_are_audited(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    (await village.get(f"/api/v1/patients/{patient['id']}")).ok()
    failed = await api.anonymous(
        "POST", "/api/v1/auth/login", json={"username": "dr-village", "password": "wrong-one"}
    )
    assert failed.status == 401
    auditor = await api.login("auditor")
    reads = (
        await auditor.get(f"/api/v1/audit?patient_id={patient['id']}&action=patient.read")
    ).ok()
    assert reads and reads[0]["actor"] == "dr-village" and reads[0]["client"] == "127.0.0.1"
    assert reads[0]["outcome"] == "success" and reads[0]["hash"]
    logins = (await auditor.get("/api/v1/audit?action=auth.login&outcome=denied")).ok()
    assert any(r["detail"].get("reason") == "wrong password" for r in logins)
    assert (await auditor.get("/api/v1/audit/verify")).ok()["ok"] is True


async def test_chain_detects_an_edited_row(api: Api) -> None:
    village = await api.login("dr-village")
    await new_patient(village)
    auditor = await api.login("auditor")
    before = (await auditor.get("/api/v1/audit/verify")).ok()
    assert before["ok"] and before["checked"] > 10 and before["unsealed"] == 0
    async with api.center.sessions() as session, session.begin():
        target = await session.scalar(
            select(AuditRecord).where(AuditRecord.action == "patient.create").limit(1)
        )
        assert target is not None
        await session.execute(
            update(AuditRecord).where(AuditRecord.id == target.id).values(actor="someone-else")
        )
    after = (await auditor.get("/api/v1/audit/verify")).ok()
    assert after["ok"] is False and after["first_bad_seq"] == target.seq
    assert "edited" in after["problem"]


async def test_chain_detects_a_deleted_row(api: Api) -> None:
    async with api.center.sessions() as session, session.begin():
        target = await session.scalar(select(AuditRecord).where(AuditRecord.seq == 5))
        assert target is not None
        await session.delete(target)
    report = await api.center.audit_log.verify()
    assert not report.ok and report.first_bad_seq == 6


async def test_cli_audit_verify(tmp_path: Path, database: Database) -> None:
    settings = make_settings(tmp_path, database)
    env = {
        **os.environ,
        "TELECENTER_DATABASE_URL": database.url,
        "TELECENTER_DATABASE_SCHEMA": database.schema,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
    }
    cli = [sys.executable, "-m", "web.cli", "--data-dir", str(settings.data_dir)]
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, timeout=120)
    ok = subprocess.run(
        [*cli, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and "intact" in ok.stdout
    from consult.db import make_engine, make_session_factory

    engine = make_engine(database.url, schema=database.schema or None)
    async with make_session_factory(engine)() as session, session.begin():
        await session.execute(
            update(AuditRecord).where(AuditRecord.seq == 3).values(action="tampered")
        )
    await engine.dispose()
    broken = subprocess.run(
        [*cli, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert broken.returncode == 1 and "BROKEN at seq 3" in broken.stdout
