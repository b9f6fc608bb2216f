"""Ingestion: read and check an ECG, analyse it off the event loop, store it, triage it.

The parsing and analysis run in a worker process (:func:`read_and_analyse` is top-level and
pure, so it pickles); the event loop only does database and file I/O. A critical finding raises
the request to stat and alerts the ECG readers in the same transaction that stores the ECG, so the
alert goes out the moment the upload is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from consult import coview
from consult import critical as critical_
from consult import requests as requests_
from consult.access import known_patient, readable_child, readable_request
from consult.center import Center, Work
from consult.errors import Conflict, InvalidInput, NotFound, TooLarge
from consult.filestore import ContentStore
from consult.identity import (
    Identity,
    Verdict,
    acting_for,
    match,
    may_send_for,
    request_named,
)
from consult.models import DiagnosticRequest, Institution, Patient
from consult.principal import Principal
from consult.vocab import Priority, RequestKind
from ecg import reconcile
from ecg.errors import EcgFormatError, EcgTooLarge
from ecg.interpret import CriticalThresholds
from ecg.readers import CsvProfile, read_ecg
from ecg.readers.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_DURATION_S
from ecg.reconcile import EcgReconciliation, HeldItem
from ecg.store import EcgRecording

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """An ECG file as received, and what it is for.

    The patient is the one the uploading clinic picked (``patient_id``), or the one its
    identity names (``patient_ids``: resident ID / record number, ``name`` + ``birth_date`` +
    ``sex``); the request is ``request_id`` or the one whose identifier is ``accession``.
    Either way the one matching rule (:func:`consult.identity.match`) decides: an upload that
    disagrees with its request is held for reconciliation, never filed elsewhere.
    """

    data: bytes
    filename: str
    patient_id: int | None = None
    request_id: int | None = None
    priority: Priority = Priority.ROUTINE
    clinical_question: str = ""
    profile: CsvProfile | None = None
    source: str = "upload"
    accession: str = ""
    patient_ids: tuple[str, ...] = ()
    name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""


class HeldForReconciliation(Conflict):
    """The upload disagrees with the request it names: kept, unfiled, in the reconciliation
    list (``item``)."""

    code = "held_for_reconciliation"

    def __init__(self, item: HeldItem) -> None:
        super().__init__(f"the ECG waits for reconciliation: {item.reason_en}")
        self.item = item


@dataclass(frozen=True)
class Analysed:
    """What the worker process sends back: the record's shape and the analysis."""

    format: str
    fs: float
    leads: tuple[str, ...]
    duration_s: float
    analysis: dict[str, Any]
    elapsed_ms: float


class AnalysisCounts(Protocol):
    """Where the analyses are counted (:class:`web.metrics.EcgMetrics`)."""

    def analysed(self, outcome: str, seconds: float) -> None:
        """One read-and-analyse: ``ok``, ``rejected`` (the file was refused) or ``failed``."""


class _NoCounts:
    def analysed(self, outcome: str, seconds: float) -> None:
        pass


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
    max_duration_s: float,
    max_expanded_bytes: float = DEFAULT_MAX_BYTES,
) -> Analysed:
    """Parse and analyse (runs in a worker process)."""
    from ecg.analysis import analyze

    start = time.perf_counter()
    record = read_ecg(data, filename, profile, max_duration_s, max_expanded_bytes)
    result = analyze(record, age=age, sex=sex, thresholds=thresholds)
    return Analysed(
        format=record.source_format,
        fs=record.fs,
        leads=record.leads,
        duration_s=record.duration_s,
        analysis=result.to_dict(),
        elapsed_ms=(time.perf_counter() - start) * 1000,
    )


def check_readable(
    data: bytes,
    filename: str,
    profile: CsvProfile | None,
    max_duration_s: float,
    max_expanded_bytes: float,
) -> float:
    """Read an upload under the limits and return its duration (runs in a worker process):
    what a held upload must pass before it is kept."""
    return read_ecg(data, filename, profile, max_duration_s, max_expanded_bytes).duration_s


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
        counts: AnalysisCounts | None = None,
        max_duration_s: float = DEFAULT_MAX_DURATION_S,
        max_expanded_bytes: float = DEFAULT_MAX_BYTES,
    ) -> None:
        self.center = center
        self.max_duration_s = max_duration_s
        self.max_expanded_bytes = max_expanded_bytes
        self.files = files
        self.executor = executor
        self.thresholds = thresholds or CriticalThresholds()
        self.counts = counts or _NoCounts()

    async def ingest(self, principal: Principal, upload: Upload, *, client: str = "") -> Ingested:
        """Match, store, analyse and triage one ECG; the same file for the same patient is one
        ECG. Raises :class:`HeldForReconciliation` when the upload disagrees with its request."""
        digest = ContentStore.digest(upload.data)
        async with self.center.work(principal, client=client) as work:
            _, verdict = await _matched(work, upload)
        if not verdict.filed:
            # a held upload is read (not analysed) before it is kept: a hostile file is refused
            # with nothing stored. Its file is written before the transaction that holds it (no
            # database lock held while writing): a crash in between leaves an unreferenced
            # content-addressed file, never a row without its file.
            await self._check(upload)
            await asyncio.to_thread(self.files.put, upload.data)
            async with self.center.work(principal, client=client) as work:
                identity, verdict = await _matched(work, upload)  # decided where it commits
                held = (
                    None if verdict.filed else await _hold(work, upload, digest, identity, verdict)
                )
            if held is not None:
                logger.warning("ECG upload held for reconciliation: %s", held.detail)
                raise HeldForReconciliation(held)
        assert verdict.patient_id is not None
        upload = dataclasses.replace(
            upload, patient_id=verdict.patient_id, request_id=verdict.request_id
        )
        return await self._file(principal, upload, digest, client)

    async def _file(
        self, principal: Principal, upload: Upload, digest: str, client: str
    ) -> Ingested:
        assert upload.patient_id is not None
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
                found = await self._existing(work, patient.id, digest)
            if found is None:
                raise
            return found

    async def _analyse(self, upload: Upload, age: int | None, sex: str | None) -> Analysed:
        """Read and analyse in the executor; counted with its outcome and the time waited."""
        start, outcome = time.perf_counter(), "failed"
        try:
            analysed = await self._read_and_analyse(upload, age, sex)
            outcome = "ok"
            return analysed
        except InvalidInput:
            outcome = "rejected"
            raise
        finally:
            self.counts.analysed(outcome, time.perf_counter() - start)

    async def _read_and_analyse(self, upload: Upload, age: int | None, sex: str | None) -> Analysed:
        loop = asyncio.get_running_loop()
        with _refusals():
            return await loop.run_in_executor(
                self.executor,
                read_and_analyse,
                upload.data,
                upload.filename,
                upload.profile,
                age,
                sex,
                self.thresholds,
                self.max_duration_s,
                self.max_expanded_bytes,
            )

    async def _check(self, upload: Upload) -> None:
        """Read ``upload`` under the limits in the executor (413/422 when it is refused)."""
        loop = asyncio.get_running_loop()
        with _refusals():
            await loop.run_in_executor(
                self.executor,
                check_readable,
                upload.data,
                upload.filename,
                upload.profile,
                self.max_duration_s,
                self.max_expanded_bytes,
            )

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
        assert upload.patient_id is not None
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

    async def resolve(
        self, principal: Principal, item_id: int, patient_id: int, *, client: str = ""
    ) -> HeldItem:
        """A reconciler files a held ECG on ``patient_id`` (a patient of the sending clinic),
        on the request it named when that request is this patient's, else on a new one."""
        async with self.center.work(principal, client=client) as work:
            row = await reconcile.claim(work, item_id, patient_id)
            institution = await work.session.get(Institution, row.institution_id)
            assert institution is not None
            sender = await acting_for(work, institution)
        try:
            async with self.center.work(sender, client=client) as work:
                patient = await known_patient(work, patient_id, "ecg.reconcile")
                request_id = await _named_request(work, row, patient.id)
            data = await asyncio.to_thread(self.files.get, row.sha256)
            profile = _profile(row.csv_profile)
            upload = Upload(
                data=data,
                filename=row.filename,
                patient_id=patient.id,
                request_id=request_id,
                priority=Priority(row.priority),
                clinical_question=row.clinical_question,
                profile=profile,
                source=row.source,
            )
            result = await self._file(sender, upload, row.sha256, client)
        except BaseException:
            async with self.center.work(principal, client=client) as work:
                await reconcile.release(work, item_id)
            raise
        async with self.center.work(principal, client=client) as work:
            return await reconcile.filed(work, item_id, patient.id, result.recording.id)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A file the readers refuse becomes 413 (too large once expanded) or 422."""
    try:
        yield
    except EcgTooLarge as exc:
        raise TooLarge(f"ECG file not accepted: {exc}", field="file") from None
    except EcgFormatError as exc:
        raise InvalidInput(f"ECG file not accepted: {exc}", field="file") from None
    except ValueError as exc:  # EcgRecord's own checks (implausible values, bad shapes)
        raise InvalidInput(f"ECG file not accepted: {exc}", field="file") from None


async def _matched(work: Work, upload: Upload) -> tuple[Identity, Verdict]:
    """What the upload says of its patient, and where the matching rule files it."""
    identity = await identity_of_upload(work, upload)
    verdict = await match(
        work, identity, sender_id=work.principal.institution_id, kind=RequestKind.ECG_READ
    )
    return identity, verdict


async def _hold(
    work: Work, upload: Upload, digest: str, identity: Identity, verdict: Verdict
) -> HeldItem:
    """Keep an upload (its file already stored) in the reconciliation list."""
    row = await reconcile.hold(
        work,
        verdict,
        identity,
        sha256=digest,
        filename=upload.filename,
        size=len(upload.data),
        source=upload.source,
        csv_profile=dataclasses.asdict(upload.profile) if upload.profile else None,
        priority=upload.priority.value,
        clinical_question=upload.clinical_question,
    )
    return reconcile.item_of(row)


async def identity_of_upload(work: Work, upload: Upload) -> Identity:
    """What an upload says of its patient and request (its own clinic's patient must exist)."""
    if upload.patient_id is not None:
        await known_patient(work, upload.patient_id, "ecg.upload")
    accession = upload.accession.strip()
    if upload.request_id is not None:
        request = await work.session.get(DiagnosticRequest, upload.request_id)
        if request is None:
            work.deny("ecg.upload", obj=("request", upload.request_id))
            raise NotFound(f"no request {upload.request_id}")
        if accession and accession != request.identifier:
            raise InvalidInput(
                "request_id and accession name different requests", field="accession"
            )
        accession = request.identifier
    if upload.patient_id is None and not (upload.patient_ids or upload.name or accession):
        raise InvalidInput(
            "name the patient: patient_id, a patient ID or a name", field="patient_id"
        )
    return Identity(
        patient_ids=tuple(v.strip() for v in upload.patient_ids if v.strip()),
        name=upload.name,
        birth_date=upload.birth_date,
        sex=upload.sex.strip().upper(),
        accession=accession,
        patient_pk=upload.patient_id,
    )


async def _named_request(work: Work, row: EcgReconciliation, patient_id: int) -> int | None:
    """The ECG-read request a held upload named, if it is this patient's and the sender may
    send for it (else the ECG opens a new request)."""
    request = await request_named(work, row.accession)
    if (
        request is None
        or request.kind is not RequestKind.ECG_READ
        or request.patient_id != patient_id
        or not request.status.is_open
        or not await may_send_for(work, row.institution_id, request.requesting_institution_id)
    ):
        return None
    return request.id


def _profile(values: dict[str, Any] | None) -> CsvProfile | None:
    if not values:
        return None
    kwargs = dict(values)
    kwargs["leads"] = tuple(kwargs.get("leads", ()))
    return CsvProfile(**kwargs)


async def readable_recording(work: Work, ecg_id: int, action: str) -> EcgRecording:
    """An ECG the caller may read (through its request's scope and consent, or shared in an
    open consult room the caller is a member of); audited."""
    try:
        return await readable_child(work, EcgRecording, ecg_id, action, "ECG")
    except NotFound:
        share = await coview.shared_with(work, coview.ECG, str(ecg_id))
        row = await work.session.get(EcgRecording, ecg_id) if share is not None else None
        if share is None or row is None:
            raise
    work.audit(
        action, patient_id=row.patient_id, obj=("ecg", row.id), via=f"room:{share.request_id}"
    )
    return row


async def recordings_of(work: Work, request_id: int) -> list[EcgRecording]:
    """The ECGs of a request the caller may read (scoped, consent-checked, audited)."""
    request = await readable_request(work, request_id, "ecg.list")
    rows = await work.session.scalars(
        select(EcgRecording).where(EcgRecording.request_id == request.id).order_by(EcgRecording.id)
    )
    return list(rows)


async def shareable_ecg(work: Work, ecg_id: int) -> int:
    """The patient of an ECG the caller may read themselves (to share it in a room)."""
    row = await readable_child(work, EcgRecording, ecg_id, "ecg.share", "ECG")
    return row.patient_id


def profile_of(recording: EcgRecording) -> CsvProfile | None:
    """The CSV profile an upload was read with (None for self-describing formats)."""
    return _profile(recording.csv_profile)


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
