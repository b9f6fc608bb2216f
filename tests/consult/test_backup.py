"""``telecenter backup`` while the real server takes uploads, then ``telecenter restore`` into a
fresh data directory (and database): rows, files and the audit chain match the backup."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import text
from sqlalchemy.engine import make_url

from consult.db import make_engine
from tests.conftest import PG_URL, Api, ApiUser, _pg_admin, eventually
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip
from tests.imaging.conftest import make_ct
from tests.imaging.test_dicomweb import xihe_patient
from web.settings import Settings

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


@dataclass
class Run:
    """What a ``telecenter`` command printed and returned."""

    rc: int
    out: str
    err: str
    started: float
    ended: float


async def telecenter(*args: str, url: str, schema: str = "") -> Run:
    env = {
        **os.environ,
        "TELECENTER_DATABASE_URL": url,
        "TELECENTER_DATABASE_SCHEMA": schema,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
    }
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode(), started, time.monotonic())


@pytest.fixture
async def target_url(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the server's backend to restore into."""
    if settings.db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'telecenter.db'}"
        return
    name = f"tc_restore_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dicom_bytes(patient_id: str, study: str) -> bytes:
    buf = io.BytesIO()
    make_ct(patient_id=patient_id, study_uid=study, instance=1).save_as(
        buf, enforce_file_format=True
    )
    return buf.getvalue()


@dataclass
class Uploads:
    """Uploads that run until told to stop; when each one was answered."""

    done: list[float] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def stow(self, doctor: ApiUser, patient_id: str) -> None:
        study = generate_uid()
        while not self.stop.is_set():
            body = (
                b"--B\r\nContent-Type: application/dicom\r\n\r\n"
                + dicom_bytes(patient_id, study)
                + b"\r\n--B--\r\n"
            )
            headers = {
                **doctor.headers,
                "Content-Type": 'multipart/related; type="application/dicom"; boundary=B',
            }
            async with doctor.client.post("/dicom-web/studies", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
            self.done.append(time.monotonic())

    async def ecgs(self, village: ApiUser, patient_id: int) -> None:
        seed = 100
        while not self.stop.is_set():
            seed += 1
            data = await asyncio.to_thread(normal_zip, seed)
            form = {"patient_id": str(patient_id), "file": io.BytesIO(data)}
            async with village.client.post("/api/v1/ecgs", data=form, headers=village.headers) as r:
                assert r.status == 201, await r.text()
            self.done.append(time.monotonic())


async def rows(url: str, schema: str, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(url, schema=schema or None)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def test_backup_while_uploading_restores_whole(
    api: Api, settings: Settings, tmp_path: Path, target_url: str
) -> None:
    url, schema, data_dir = settings.db_url, settings.database_schema, str(settings.data_dir)
    doctor, village = await api.login("dr-township"), await api.login("dr-village")
    xihe = await xihe_patient(api)
    patient = await new_patient(village, "备份测试")
    uploads = Uploads()
    tasks = [
        asyncio.create_task(uploads.stow(doctor, xihe.resident_id or "")),
        asyncio.create_task(uploads.stow(doctor, xihe.resident_id or "")),
        asyncio.create_task(uploads.ecgs(village, patient["id"])),
    ]
    try:
        await eventually(lambda: len(uploads.done) >= 3, within=60)
        backup = await telecenter(
            "backup", str(tmp_path / "bk"), "--data-dir", data_dir, url=url, schema=schema
        )
        await asyncio.sleep(0.5)  # uploads go on after the backup
    finally:
        uploads.stop.set()
        await asyncio.gather(*tasks)
    assert backup.rc == 0, backup.err
    during = [t for t in uploads.done if backup.started < t < backup.ended]
    assert during, "no upload was answered while the backup ran"
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    live = await rows(url, schema, "SELECT count(*) FROM imaging_instance")
    assert 0 < manifest["tables"]["imaging_instance"] < live[0][0]  # the backup is one moment
    assert manifest["tables"]["ecg_recording"] >= 1
    assert len(manifest["files"]) == (
        manifest["tables"]["imaging_instance"] + manifest["tables"]["ecg_recording"]
    )

    restored_dir = tmp_path / "restored"
    restore = await telecenter(
        "restore",
        str(tmp_path / "bk"),
        "--data-dir",
        str(restored_dir),
        url=target_url,
        schema=schema,
    )
    assert restore.rc == 0, restore.out + restore.err
    assert "match the backup" in restore.out and "audit chain intact" in restore.out

    # Independently of the tool: every file the restored rows name is there, byte for byte
    # the original; the audit chain verifies with the ordinary command.
    instances = await rows(target_url, schema, "SELECT path FROM imaging_instance")
    ecgs = await rows(target_url, schema, "SELECT sha256 FROM ecg_recording")
    assert len(instances) == manifest["tables"]["imaging_instance"]
    for (path,) in instances:
        restored = (restored_dir / "dicom" / str(path)).read_bytes()
        assert restored == (settings.data_dir / "dicom" / str(path)).read_bytes()
    for (digest,) in ecgs:
        d = str(digest)
        blob = (restored_dir / "ecg" / d[:2] / f"{d[2:]}.bin").read_bytes()
        assert hashlib.sha256(blob).hexdigest() == d
    verify = await telecenter(
        "audit", "verify", "--data-dir", str(restored_dir), url=target_url, schema=schema
    )
    assert verify.rc == 0 and "audit chain intact" in verify.out, verify.out + verify.err
    head = await rows(target_url, schema, "SELECT max(seq) FROM audit_record")
    assert head[0][0] >= manifest["audit_head_seq"] > 0


async def test_restore_refuses_a_used_target_and_a_damaged_backup(
    api: Api, settings: Settings, tmp_path: Path, target_url: str
) -> None:
    url, schema, data_dir = settings.db_url, settings.database_schema, str(settings.data_dir)
    doctor = await api.login("dr-township")
    xihe = await xihe_patient(api)
    body = (
        b"--B\r\nContent-Type: application/dicom\r\n\r\n"
        + dicom_bytes(xihe.resident_id or "", generate_uid())
        + b"\r\n--B--\r\n"
    )
    headers = {
        **doctor.headers,
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=B',
    }
    async with doctor.client.post("/dicom-web/studies", data=body, headers=headers) as r:
        assert r.status == 200
    bk = tmp_path / "bk"
    assert (
        await telecenter("backup", str(bk), "--data-dir", data_dir, url=url, schema=schema)
    ).rc == 0
    again = await telecenter("backup", str(bk), "--data-dir", data_dir, url=url, schema=schema)
    assert again.rc == 1 and "not empty" in again.err

    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("patient data")
    refused = await telecenter(
        "restore", str(bk), "--data-dir", str(used), url=target_url, schema=schema
    )
    assert refused.rc == 1 and "not empty" in refused.err and "--force" in refused.err
    assert (used / "keep.txt").read_text() == "patient data"

    stored = next((bk / "files" / "dicom").rglob("*.dcm"))
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    damaged = await telecenter(
        "restore", str(bk), "--data-dir", str(tmp_path / "fresh"), url=target_url, schema=schema
    )
    assert damaged.rc == 1 and "damaged" in damaged.err, damaged.err
    assert not (tmp_path / "fresh").exists()

    manifest = json.loads((bk / "manifest.json").read_text())
    manifest["files"]["../../escaped.txt"] = {"sha256": "0" * 64, "size": 1}
    (bk / "manifest.json").write_text(json.dumps(manifest))
    hostile = await telecenter(
        "restore", str(bk), "--data-dir", str(tmp_path / "fresh"), url=target_url, schema=schema
    )
    assert hostile.rc == 1 and "outside the backup" in hostile.err, hostile.err
    assert not (tmp_path.parent / "escaped.txt").exists()
