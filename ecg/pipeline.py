"""Ingestion: read and check an ECG, analyse it off the event loop, store it, triage it.

The parsing and analysis run in a worker process (:func:`read_and_analyse` is top-level and
pure, so it pickles); the event loop only does database and file I/O. A critical finding raises
the request to stat and alerts the ECG readers in the same transaction that stores the ECG, so the
alert goes out the moment the upload is committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from consult import critical as critical_
from consult import requests as requests_
from consult.access import known_patient, readable_child, readable_request
from consult.center import Center, Work
from consult.errors import Conflict, InvalidInput
from consult.filestore import ContentStore
from consult.models import DiagnosticRequest, Patient
from consult.principal import Principal
from consult.vocab import Priority, RequestKind
from ecg.errors import EcgFormatError
from ecg.interpret import CriticalThresholds
from ecg.readers import CsvProfile, read_ecg
from ecg.store import EcgRecording

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """An ECG file as received, and what it is for."""

    data: bytes
    filename: str
    patient_id: int
    request_id: int | None = None
    priority: Priority = Priority.ROUTINE
    clinical_question: str = ""
    profile: CsvProfile | None = None
    source: str = "upload"


@dataclass(frozen=True)
class Analysed:
    """What the worker process sends back: the record's shape and the analysis."""

    format: str
    fs: float
    leads: tuple[str, ...]
    duration_s: float
    analysis: dict[str, Any]
    elapsed_ms: float


@dataclass(frozen=True)
class Ingested:
    recording: EcgRecording
    request: DiagnosticRequest
    duplicate: bool


def read_and_analyse(
    data: bytes,
    filename: str,
    profile: CsvProfile | None,
    age: int | None,
    sex: str | None,
    thresholds: CriticalThresholds,
) -> Analysed:
    """Parse and analyse (runs in a worker process)."""
    from ecg.analysis import analyze

    start = time.perf_counter()
    record = read_ecg(data, filename, profile)
    result = analyze(record, age=age, sex=sex, thresholds=thresholds)
    return Analysed(
        format=record.source_format,
        fs=record.fs,
        leads=record.leads,
        duration_s=record.duration_s,
        analysis=result.to_dict(),
        elapsed_ms=(time.perf_counter() - start) * 1000,
    )


def age_at(birth: dt.date | None, when: dt.date) -> int | None:
    if birth is None:
        return None
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


class EcgIngest:
    """The one service every door (API upload, DICOM C-STORE) hands ECGs to."""

    def __init__(
        self,
        center: Center,
        files: ContentStore,
        executor: Executor,
        thresholds: CriticalThresholds | None = None,
    ) -> None:
        self.center = center
        self.files = files
        self.executor = executor
        self.thresholds = thresholds or CriticalThresholds()

    async def ingest(self, principal: Principal, upload: Upload, *, client: str = "") -> Ingested:
        """Store, analyse and triage one ECG; the same file for the same patient is one ECG."""
        digest = ContentStore.digest(upload.data)
        async with self.center.work(principal, client=client) as work:
            patient = await known_patient(work, upload.patient_id, "ecg.upload")
            existing = await self._existing(work, patient.id, digest)
            if existing is not None:
                return existing
            age = age_at(patient.birth_date, work.now.date())
            sex = patient.sex.value if patient.sex.value in ("M", "F") else None
        analysed = await self._analyse(upload, age, sex)
        await asyncio.to_thread(self.files.put, upload.data)
        try:
            async with self.center.work(principal, client=client) as work:
                return await self._store(work, upload, digest, analysed)
        except IntegrityError:  # the same file arrived twice at once: the first one won
            async with self.center.work(principal, client=client) as work:
                found = await self._existing(work, upload.patient_id, digest)
            if found is None:
                raise
            return found

    async def _analyse(self, upload: Upload, age: int | None, sex: str | None) -> Analysed:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self.executor,
                read_and_analyse,
                upload.data,
                upload.filename,
                upload.profile,
                age,
                sex,
                self.thresholds,
            )
        except EcgFormatError as exc:
            raise InvalidInput(f"ECG file not accepted: {exc}", field="file") from None
        except ValueError as exc:  # EcgRecord's own checks (implausible values, bad shapes)
            raise InvalidInput(f"ECG file not accepted: {exc}", field="file") from None

    async def _existing(self, work: Work, patient_id: int, digest: str) -> Ingested | None:
        recording = await work.session.scalar(
            select(EcgRecording).where(
                EcgRecording.patient_id == patient_id, EcgRecording.sha256 == digest
            )
        )
        if recording is None:
            return None
        request = await work.session.get(DiagnosticRequest, recording.request_id)
        assert request is not None
        work.audit("ecg.upload", patient_id=patient_id, obj=("ecg", recording.id), duplicate=True)
        return Ingested(recording, request, duplicate=True)

    async def _request_for(self, work: Work, upload: Upload, patient: Patient) -> DiagnosticRequest:
        if upload.request_id is None:
            return await requests_.create(
                work,
                requests_.NewRequest(
                    patient_id=patient.id,
                    kind=RequestKind.ECG_READ,
                    priority=upload.priority,
                    clinical_question=upload.clinical_question,
                ),
            )
        request = await readable_request(work, upload.request_id, "ecg.upload")
        if request.kind is not RequestKind.ECG_READ or request.patient_id != patient.id:
            raise InvalidInput(
                "the request is not an ECG read for this patient", field="request_id"
            )
        if not request.status.is_open:
            raise Conflict(f"request {request.identifier} is {request.status}")
        return request

    async def _store(self, work: Work, upload: Upload, digest: str, analysed: Analysed) -> Ingested:
        patient = await known_patient(work, upload.patient_id, "ecg.upload")
        request = await self._request_for(work, upload, patient)
        critical = bool(analysed.analysis.get("critical"))
        recording = EcgRecording(
            request_id=request.id,
            patient_id=patient.id,
            institution_id=request.requesting_institution_id,
            uploaded_by=work.principal.user_id or None,
            uploaded_at=work.now,
            source=upload.source,
            sha256=digest,
            filename=upload.filename[:255],
            format=analysed.format,
            csv_profile=dataclasses.asdict(upload.profile) if upload.profile else None,
            size=len(upload.data),
            fs=analysed.fs,
            leads=list(analysed.leads),
            duration_s=analysed.duration_s,
            analysis=analysed.analysis,
            critical=critical,
            analysis_ms=analysed.elapsed_ms,
        )
        work.session.add(recording)
        await work.session.flush()
        request.details = {
            **request.details,
            "ecg_ids": [*request.details.get("ecg_ids", []), recording.id],
        }
        work.audit(
            "ecg.upload", patient_id=patient.id, obj=("ecg", recording.id), format=analysed.format
        )
        if critical:
            findings = analysed.analysis.get("critical_findings", [])
            reasons = "; ".join(f.get("en", "") for f in findings) or "critical ECG"
            reasons_zh = "; ".join(f.get("zh", "") for f in findings) or "危急心电图"
            await requests_.mark_critical(work, request, reasons, reasons_zh)
            codes = ",".join(str(f.get("code", "")) for f in findings)
            finding = critical_.Finding("ecg", recording.id, codes, reasons, reasons_zh)
            await critical_.raise_alerts(work, request, [finding])
        logger.info(
            "ECG %s for request %s: %s, %.0f ms analysis%s",
            recording.id,
            request.identifier,
            analysed.format,
            analysed.elapsed_ms,
            ", CRITICAL" if critical else "",
        )
        return Ingested(recording, request, duplicate=False)


async def readable_recording(work: Work, ecg_id: int, action: str) -> EcgRecording:
    """An ECG the caller may read (through its request's scope and consent); audited."""
    return await readable_child(work, EcgRecording, ecg_id, action, "ECG")


def profile_of(recording: EcgRecording) -> CsvProfile | None:
    """The CSV profile an upload was read with (None for self-describing formats)."""
    if not recording.csv_profile:
        return None
    values = dict(recording.csv_profile)
    values["leads"] = tuple(values.get("leads", ()))
    return CsvProfile(**values)


def samples_of(
    data: bytes, filename: str, profile: CsvProfile | None, max_fs: float = 500.0
) -> dict[str, Any]:
    """The tracing for a viewer: mV samples per lead, decimated to at most ``max_fs`` (worker)."""
    import numpy as np

    record = read_ecg(data, filename, profile)
    step = max(1, int(record.fs // max_fs))
    samples = np.round(record.samples[:, ::step], 4)
    return {"fs": record.fs / step, "leads": list(record.leads), "samples": samples.tolist()}


def render_of(
    data: bytes, filename: str, profile: CsvProfile | None, kind: str, title: str
) -> bytes:
    """The tracing on standard ECG paper as SVG or PNG bytes (worker)."""
    from ecg.render import render_png, render_svg

    record = read_ecg(data, filename, profile)
    if kind == "svg":
        return render_svg(record, title=title).encode()
    return render_png(record, title=title)
