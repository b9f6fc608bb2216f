"""``telecenter purge``: only what is past retention goes, never a patient's open requests, and
the audit chain still verifies from the checkpoint the purge sealed into it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import delete, func, select, update

from consult.audit import CHECKPOINT_ACTION
from consult.models import AuditRecord, DiagnosticRequest, Institution, Patient
from consult.vocab import RequestStatus
from ecg.store import EcgRecording
from imaging.index import ImagingInstance, ImagingSeries, ImagingStudy
from tests.conftest import Api, ApiUser
from tests.consult.test_backup import dicom_bytes, telecenter
from tests.core.helpers import new_patient, new_request
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_ecg_api import upload
from web.settings import Settings, SettingsError, load_settings

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends

LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(days=16 * 366)
LAST_YEAR = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)


async def ecg_request(village: ApiUser, patient_id: int, seed: int) -> tuple[int, str]:
    data = normal_zip(seed)
    status, body = await upload(village, patient_id, data, "old.zip")
    assert status == 201, body
    return body["request"]["id"], hashlib.sha256(data).hexdigest()


async def stow(doctor: ApiUser, resident_id: str) -> str:
    study = generate_uid()
    body = (
        b"--B\r\nContent-Type: application/dicom\r\n\r\n"
        + dicom_bytes(resident_id, study)
        + b"\r\n--B--\r\n"
    )
    headers = {
        **doctor.headers,
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=B',
    }
    async with doctor.client.post("/dicom-web/studies", data=body, headers=headers) as r:
        assert r.status == 200, await r.text()
    return study


async def backdate(api: Api, *, closed: list[int], opened: list[int], study: str) -> int:
    """Close ``closed`` 16 years ago, make ``opened`` 16 years old (still open), age ``study``,
    and move the first audit records a year back (re-sealed, so the chain is whole). Returns
    the seq of the last record moved."""
    await api.center.audit_log.drain()
    async with api.center.sessions() as session, session.begin():
        await session.execute(
            update(DiagnosticRequest)
            .where(DiagnosticRequest.id.in_(closed))
            .values(status=RequestStatus.COMPLETED, completed_at=LONG_AGO, updated_at=LONG_AGO)
        )
        await session.execute(
            update(DiagnosticRequest)
            .where(DiagnosticRequest.id.in_(opened))
            .values(created_at=LONG_AGO, updated_at=LONG_AGO)
        )
        await session.execute(
            update(ImagingStudy)
            .where(ImagingStudy.study_uid == study)
            .values(received_at=LONG_AGO, updated_at=LONG_AGO)
        )
        head = await session.scalar(select(func.max(AuditRecord.seq)))
        moved = (head or 0) // 2
        await session.execute(
            update(AuditRecord).where(AuditRecord.seq <= moved).values(at=LAST_YEAR)
        )
        await session.execute(update(AuditRecord).values(seq=None, prev_hash=None, hash=None))
    await api.center.audit_log.seal()
    return moved


def ecg_file(settings: Settings, digest: str) -> Path:
    return settings.data_dir / "ecg" / digest[:2] / f"{digest[2:]}.bin"


async def test_purge_dry_run_then_real(api: Api, settings: Settings) -> None:
    url, schema, data_dir = settings.db_url, settings.database_schema, str(settings.data_dir)
    village, doctor = await api.login("dr-village"), await api.login("dr-township")
    done, kept_open, busy = (
        await new_patient(village, "已结束"),
        await new_patient(village, "仍开放"),
        await new_patient(village, "有开放申请"),
    )
    old_request, old_sha = await ecg_request(village, done["id"], 201)
    open_request, open_sha = await ecg_request(village, kept_open["id"], 202)
    busy_request, busy_sha = await ecg_request(village, busy["id"], 203)
    first, second = await xihe_patients(api)
    old_study = await stow(doctor, first)  # opens an imaging request, closed 16 years ago below
    new_study = await stow(doctor, second)
    async with api.center.sessions() as session:
        image_request = await session.scalar(
            select(ImagingStudy.request_id).where(ImagingStudy.study_uid == old_study)
        )
    assert image_request is not None
    moved = await backdate(
        api,
        closed=[old_request, busy_request, image_request],
        opened=[open_request],
        study=old_study,
    )
    await new_request(village, busy["id"])  # busy has an open request now: nothing of it goes
    old_paths = await _instance_paths(api, old_study)
    assert old_paths

    preview = await telecenter("purge", "--dry-run", "--data-dir", data_dir, url=url, schema=schema)
    assert preview.rc == 0, preview.err
    assert '"diagnostic_request": 2' in preview.out and '"imaging_study": 1' in preview.out
    assert f"(through seq {moved})" in preview.out, preview.out
    assert await _exists(api, old_request) and ecg_file(settings, old_sha).exists()
    assert all((settings.data_dir / "dicom" / p).exists() for p in old_paths)

    purge = await telecenter("purge", "--data-dir", data_dir, url=url, schema=schema)
    assert purge.rc == 0, purge.err
    assert not await _exists(api, old_request) and not await _exists(api, image_request)
    assert not ecg_file(settings, old_sha).exists()
    assert not any((settings.data_dir / "dicom" / p).exists() for p in old_paths)
    assert await _exists(api, open_request) and ecg_file(settings, open_sha).exists()
    assert await _exists(api, busy_request) and ecg_file(settings, busy_sha).exists()
    assert await _instance_paths(api, new_study)
    async with api.center.sessions() as session:
        ecgs = set(await session.scalars(select(EcgRecording.request_id)))
        assert old_request not in ecgs and {open_request, busy_request} <= ecgs
        lowest = await session.scalar(select(func.min(AuditRecord.seq)))
        assert lowest == moved + 1
        checkpoint = await session.scalar(
            select(AuditRecord).where(AuditRecord.action == CHECKPOINT_ACTION)
        )
        assert checkpoint is not None and checkpoint.detail["audit_through_seq"] == moved
        previews = await session.scalar(
            select(func.count()).where(AuditRecord.action == "retention.preview")
        )
        assert previews == 1

    verify = await telecenter("audit", "verify", "--data-dir", data_dir, url=url, schema=schema)
    assert verify.rc == 0 and "audit chain intact" in verify.out, verify.out + verify.err
    again = await telecenter("purge", "--data-dir", data_dir, url=url, schema=schema)
    assert again.rc == 0 and "0 files" in again.out, again.out

    async with api.center.sessions() as session, session.begin():  # someone deletes one more
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == moved + 1))
    broken = await telecenter("audit", "verify", "--data-dir", data_dir, url=url, schema=schema)
    assert broken.rc == 1 and "AUDIT CHAIN BROKEN" in broken.out, broken.out


async def xihe_patients(api: Api) -> tuple[str, str]:
    """Resident IDs of two patients of 西河乡 (whose doctor stores studies)."""
    async with api.center.sessions() as session:
        ids = await session.scalars(
            select(Patient.resident_id)
            .join(Institution, Institution.id == Patient.home_institution_id)
            .where(Institution.code == "th-xihe", Patient.resident_id.is_not(None))
            .order_by(Patient.id)
            .limit(2)
        )
        first, second = [str(i) for i in ids]
        return first, second


async def _exists(api: Api, request_id: int) -> bool:
    async with api.center.sessions() as session:
        return await session.get(DiagnosticRequest, request_id) is not None


async def _instance_paths(api: Api, study_uid: str) -> list[str]:
    async with api.center.sessions() as session:
        rows = await session.scalars(
            select(ImagingInstance.path)
            .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
            .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
            .where(ImagingStudy.study_uid == study_uid)
        )
        return list(rows)


@pytest.mark.parametrize(
    ("name", "value"), [("retention_report_years", 10), ("retention_log_months", 3)]
)
def test_retention_below_the_legal_minimum_is_refused(name: str, value: int) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={f"TELECENTER_{name.upper()}": str(value)})
