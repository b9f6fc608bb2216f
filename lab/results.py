"""Results: stored from the API or the LIS through one service, flagged against reference
ranges, held when implausible, validated and released by a second person, amended after release
without losing the earlier value. Release writes and signs the core report for the clinic.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from consult import reports
from consult import requests as requests_
from consult.access import readable_patient
from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.lifecycle import Lifecycle
from consult.models import Report
from consult.vocab import ReportStatus, RequestStatus, Role
from lab import catalogue, critical, identity, orders
from lab.identity import PatientIdentity
from lab.ranges import (
    age_in_years,
    evaluate,
    is_numeric_limited,
    looks_numeric,
    parse_numeric,
    select_range,
)
from lab.tables import LabOrder, LabResult, Specimen
from lab.vocab import OrderStatus, ResultStatus, SpecimenStatus

logger = logging.getLogger(__name__)

R = ResultStatus
CURRENT = (R.PRELIMINARY, R.HELD, R.FINAL, R.CORRECTED)
TRANSITIONS: dict[ResultStatus, frozenset[ResultStatus]] = {
    # entered values are preliminary or held; release makes them final (or corrected, when they
    # replace a released value); a newer value or a discard supersedes them
    R.PRELIMINARY: frozenset({R.FINAL, R.CORRECTED, R.SUPERSEDED}),
    R.HELD: frozenset({R.SUPERSEDED}),
    R.FINAL: frozenset({R.SUPERSEDED}),
    R.CORRECTED: frozenset({R.SUPERSEDED}),
    R.SUPERSEDED: frozenset(),
}
LIFECYCLE = Lifecycle("lab result", TRANSITIONS, stamp=None)
LAB_ROLES = (Role.LAB_TECHNICIAN, Role.LAB_SUPERVISOR, Role.LAB_SPECIALIST)
TAKEN = (SpecimenStatus.COLLECTED, SpecimenStatus.SHIPPED, SpecimenStatus.RECEIVED)
"""Specimen states in which a value can have been measured."""


@dataclass(frozen=True)
class Observation:
    """One value to store, as the API or the LIS gives it; checks itself."""

    code: str
    value: str
    unit: str = ""
    observed_at: dt.datetime | None = None
    amendment_reason: str = ""
    """Set for a correction of a stored value (an amendment, HL7 OBX-11 ``C``)."""

    def __post_init__(self) -> None:
        if not self.code.strip() or len(self.code) > 32:
            raise ValueError(f"bad test code {self.code!r}")
        if not self.value.strip() or len(self.value) > 200:
            raise ValueError(f"bad value {self.value!r} for {self.code}")
        if self.observed_at is not None and self.observed_at.tzinfo is None:
            raise ValueError(f"naive observation time for {self.code}")


@dataclass(frozen=True)
class Refused:
    """An observation not taken: why (``reason``, English) and a stable ``code`` for pages."""

    observation: Observation
    reason: str
    code: str


@dataclass
class StoreOutcome:
    """What :func:`store` did: stored rows, those held for review, refused observations."""

    stored: list[LabResult] = field(default_factory=list)
    held: list[LabResult] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    critical: int = 0


async def _require_specimen(work: Work, order: LabOrder, source: str) -> None:
    """Results exist only for a specimen that was collected (and not rejected), or for an order
    that already has results (a correction); anything else is refused and audited."""
    if order.status in (OrderStatus.RESULTED, OrderStatus.RELEASED):
        return
    taken = await work.session.scalar(
        select(Specimen.id)
        .where(Specimen.order_id == order.id, Specimen.status.in_(TAKEN))
        .limit(1)
    )
    if taken is None:
        work.deny(
            "lab.results.store",
            patient_id=order.patient_id,
            obj=("lab_order", order.id),
            source=source[:64],
            reason="no specimen collected",
        )
        raise Conflict(
            f"order {order.placer_number}: no specimen collected yet, results cannot be taken",
            code="specimen_not_collected",
        )


async def store(
    work: Work,
    order: LabOrder,
    observations: list[Observation],
    *,
    source: str,
    entered_by: int | None,
) -> StoreOutcome:
    """Store results for ``order`` (the one service behind the API and the HL7 door).

    Only an order with a collected specimen takes results. A value for a test that already has
    an unreleased value replaces it; one for a released test is a correction that waits for
    release like any other. A test with numeric limits takes numbers only (``<0.5`` too), so a
    critical value is never stored unflagged as text. Values outside the plausible range are
    held for review; critical values raise an alert at once.
    """
    outcome = StoreOutcome()
    if order.status is OrderStatus.CANCELLED or order.request.status in (
        RequestStatus.CANCELLED,
        RequestStatus.REJECTED,
    ):
        raise Conflict(f"order {order.placer_number} is cancelled")
    await _require_specimen(work, order, source)
    codes = {o.code for o in observations}
    tests = await catalogue.tests_by_code(work, codes)
    ranges = await catalogue.ranges_for(work, codes)
    current: dict[str, LabResult] = {}
    if order.status in (OrderStatus.RESULTED, OrderStatus.RELEASED):
        current = {
            r.test_code: r
            for r in await work.session.scalars(
                select(LabResult)
                .where(
                    LabResult.order_id == order.id,
                    LabResult.test_code.in_(codes),
                    LabResult.status.in_(CURRENT),
                )
                .order_by(LabResult.id)
            )
        }
    patient = order.request.patient
    age = age_in_years(patient.birth_date, work.now)
    values: list[dict[str, Any]] = []
    for obs in observations:
        test = tests.get(obs.code)
        if test is None or test.is_panel:
            reason = f"test {obs.code} is not a single test in the catalogue"
            outcome.refused.append(Refused(obs, reason, "unknown_test"))
            continue
        if obs.unit and test.unit and obs.unit != test.unit:
            reason = f"unit {obs.unit} for {obs.code}, expected {test.unit}"
            outcome.refused.append(Refused(obs, reason, "wrong_unit"))
            continue
        if is_numeric_limited(ranges.get(obs.code, ())) and not looks_numeric(obs.value):
            reason = f"value {obs.value.strip()[:40]!r} for {obs.code} is not a number"
            outcome.refused.append(Refused(obs, reason, "not_numeric"))
            continue
        numeric = parse_numeric(obs.value)
        verdict = evaluate(numeric, select_range(ranges.get(obs.code, ()), patient.sex, age))
        previous = current.get(obs.code)
        if (
            previous is not None
            and previous.value == obs.value.strip()
            and (previous.source, previous.entered_by) == (source[:64], entered_by)
        ):
            continue  # a retransmission (a lost ACK): the value is already stored
        supersedes = None
        if previous is not None:
            if previous.status.is_released:
                supersedes = previous.id
            else:
                LIFECYCLE.set(previous, R.SUPERSEDED)
                supersedes = previous.supersedes_id
        values.append(
            {
                "order_id": order.id,
                "patient_id": order.patient_id,
                "test_code": obs.code,
                "name": test.name,
                "value": obs.value.strip(),
                "numeric": numeric,
                "unit": test.unit,
                "flag": verdict.flag.value,
                "range_text": verdict.range_text,
                "status": R.HELD if verdict.held else R.PRELIMINARY,
                "hold_reason": verdict.held_reason,
                "source": source[:64],
                "observed_at": obs.observed_at or work.now,
                "entered_at": work.now,
                "entered_by": entered_by,
                "supersedes_id": supersedes,
                "amendment_reason": obs.amendment_reason.strip(),
                "released_at": None,
                "released_by": None,
            }
        )
    if not values:
        return outcome
    # one multi-row INSERT ... RETURNING (the ORM flushes a self-referencing table row by row)
    rows = sorted(
        await work.session.scalars(insert(LabResult).returning(LabResult), values),
        key=lambda r: r.id,
    )
    for row in rows:
        (outcome.held if row.status is R.HELD else outcome.stored).append(row)
    criticals = [r for r in outcome.stored if r.flag in ("LL", "HH")]
    outcome.critical = len(criticals)
    await critical.raise_alerts(work, order.request, criticals)
    orders.set_status(order, OrderStatus.RESULTED, work)
    request = order.request
    if request.status is RequestStatus.REQUESTED:
        requests_.set_status(request, RequestStatus.ACCEPTED, work.now)
        request.accepted_at = work.now
    if request.status is RequestStatus.ACCEPTED:
        requests_.set_status(request, RequestStatus.IN_PROGRESS, work.now)
    work.audit(
        "lab.results.store",
        patient_id=order.patient_id,
        obj=("lab_order", order.id),
        source=source[:64],
        stored=len(outcome.stored),
        held=len(outcome.held),
    )
    return outcome


def _require_role(work: Work, action: str, *roles: Role) -> None:
    if work.principal.role not in roles:
        work.deny(action)
        raise Forbidden(f"{action} is for {', '.join(r.value for r in roles)}")


async def enter(work: Work, order_id: int, observations: list[Observation]) -> StoreOutcome:
    """A technician enters results through the API."""
    _require_role(work, "lab.results.enter", *LAB_ROLES)
    order = await orders.readable(work, order_id, "lab.results.enter")
    return await store(work, order, observations, source="api", entered_by=work.principal.user_id)


async def receive(
    work: Work,
    placer: str,
    filler: str,
    observations: list[Observation],
    *,
    device: str,
    patient: PatientIdentity,
) -> StoreOutcome:
    """Results from the LIS or an analyser (acting as the server), matched by order number.

    The message must name the order's patient (:mod:`lab.identity`): results are never filed
    under another patient because of a wrong or guessed order number. A value for a released
    test is taken only as a correction (OBX-11 ``C``), and a correction only of a stored value.
    """
    order = await orders.find_by_number(work, placer.strip(), filler.strip())
    if order is None:
        raise NotFound(f"no lab order with placer {placer!r} or filler {filler!r}")
    reason = await identity.mismatch(work, order.request.patient, patient)
    if reason:
        work.deny(
            "lab.results.receive",
            patient_id=order.patient_id,
            obj=("lab_order", order.id),
            source=f"hl7:{device}"[:64],
            reason=reason,
            pid=list(patient.identifiers)[:5],
        )
        raise Conflict(reason, code="patient_mismatch")
    refused, taken = await _corrections(work, order, observations)
    if filler and order.filler_number is None:
        order.filler_number = filler.strip()[:22]
    outcome = await store(work, order, taken, source=f"hl7:{device}", entered_by=None)
    outcome.refused[:0] = refused
    return outcome


async def _corrections(
    work: Work, order: LabOrder, observations: list[Observation]
) -> tuple[list[Refused], list[Observation]]:
    """Split the observations into those refused by the correction rules and those to store."""
    latest: dict[str, LabResult] = {}
    for row in await work.session.scalars(
        select(LabResult)
        .where(
            LabResult.order_id == order.id,
            LabResult.test_code.in_({o.code for o in observations}),
            LabResult.status.in_(CURRENT),
        )
        .order_by(LabResult.id)
    ):
        latest[row.test_code] = row
    refused: list[Refused] = []
    taken: list[Observation] = []
    for obs in observations:
        previous = latest.get(obs.code)
        if obs.amendment_reason and previous is None:
            reason = "a correction (OBX-11 C) of a result never received"
            refused.append(Refused(obs, reason, "nothing_to_correct"))
        elif (
            not obs.amendment_reason
            and previous is not None
            and previous.status.is_released
            and previous.value != obs.value.strip()
        ):
            reason = "released; a new value is sent as a correction (OBX-11 C)"
            refused.append(Refused(obs, reason, "released"))
        else:
            taken.append(obs)
    return refused, taken


async def release(work: Work, order_id: int) -> Report:
    """A supervisor validates and releases the entered results (not their own): the core report
    is signed (or amended) and goes to the clinic."""
    _require_role(work, "lab.results.release", Role.LAB_SUPERVISOR)
    order = await orders.readable(work, order_id, "lab.results.release")
    pending = list(
        await work.session.scalars(
            select(LabResult).where(
                LabResult.order_id == order.id, LabResult.status == R.PRELIMINARY
            )
        )
    )
    if not pending:
        raise Conflict("no results waiting for release")
    own = [r.test_code for r in pending if r.entered_by == work.principal.user_id]
    if own:
        work.deny("lab.results.release", patient_id=order.patient_id, tests=own)
        raise Forbidden("results are released by someone other than the person who entered them")
    replaced_ids = [r.supersedes_id for r in pending if r.supersedes_id is not None]
    replaced = {
        r.id: r
        for r in await work.session.scalars(select(LabResult).where(LabResult.id.in_(replaced_ids)))
    }
    corrections = []
    for row in pending:
        old = replaced.get(row.supersedes_id or 0)
        if old is not None and old.status.is_released:
            LIFECYCLE.set(old, R.SUPERSEDED)
            LIFECYCLE.set(row, R.CORRECTED)
            corrections.append(row)
        else:
            LIFECYCLE.set(row, R.FINAL)
        row.released_at, row.released_by = work.now, work.principal.user_id
    orders.set_status(order, OrderStatus.RELEASED, work)
    work.audit(
        "lab.results.release",
        patient_id=order.patient_id,
        obj=("lab_order", order.id),
        results=[r.id for r in pending],
    )
    return await _report(work, order, corrections)


async def _report(work: Work, order: LabOrder, corrections: list[LabResult]) -> Report:
    released = await released_results(work, order.id)
    findings, data = report_content(order, released)
    latest = await work.session.scalar(
        select(Report)
        .where(Report.request_id == order.request_id, Report.status != ReportStatus.DRAFT)
        .order_by(Report.version.desc())
        .limit(1)
    )
    if latest is None:
        draft = await reports.write_draft(
            work, order.request_id, findings=findings, impression="", data=data
        )
        return await reports.sign(work, draft.id)
    reason = "; ".join(
        f"{r.name or r.test_code} corrected: {r.amendment_reason or 'no reason given'}"
        for r in corrections
    )
    return await reports.amend(
        work,
        latest.id,
        reason=reason or "additional results released",
        findings=findings,
        impression="",
        data=data,
    )


async def released_results(work: Work, order_id: int) -> list[LabResult]:
    rows = await work.session.scalars(
        select(LabResult)
        .where(LabResult.order_id == order_id, LabResult.status.in_((R.FINAL, R.CORRECTED)))
        .order_by(LabResult.id)
    )
    return list(rows)


def report_content(order: LabOrder, rows: list[LabResult]) -> tuple[str, dict[str, Any]]:
    """The results table as text (findings) and as data."""
    lines = [f"检验结果 / Lab results  {order.placer_number}"]
    for r in rows:
        flag = f" {r.flag}" if r.flag and r.flag != "N" else ""
        ref = f"  [{r.range_text}]" if r.range_text else ""
        lines.append(f"{r.name} ({r.test_code}): {r.value} {r.unit}{flag}{ref}".rstrip())
    data = {
        "placer_number": order.placer_number,
        "filler_number": order.filler_number,
        "results": [
            {
                "code": r.test_code,
                "system": "LN",
                "name": r.name,
                "value": r.value,
                "numeric": r.numeric,
                "unit": r.unit,
                "flag": r.flag,
                "reference_range": r.range_text,
                "status": r.status.value,
                "observed_at": r.observed_at.isoformat(),
                "supersedes_id": r.supersedes_id,
            }
            for r in rows
        ],
        # positive when any released result is outside its reference range (flag other than N)
        "outcome": "positive" if any(r.flag and r.flag != "N" for r in rows) else "negative",
    }
    return "\n".join(lines), data


async def list_for_order(work: Work, order_id: int) -> tuple[LabOrder, list[LabResult]]:
    """Every result row of an order (audited read); the clinic sees released rows only, and
    the earlier values that corrections replaced."""
    order = await orders.readable(work, order_id, "lab.results.read")
    query = select(LabResult).where(LabResult.order_id == order.id).order_by(LabResult.id)
    if work.principal.is_clinic:
        query = query.where(LabResult.released_at.is_not(None))
    return order, list(await work.session.scalars(query))


async def amend(work: Work, order_id: int, code: str, value: str, reason: str) -> StoreOutcome:
    """Correct a released result: a new value that waits for release, the old one kept."""
    if not reason.strip():
        raise InvalidInput("an amendment needs a reason", field="reason")
    _require_role(work, "lab.results.amend", *LAB_ROLES)
    order = await orders.readable(work, order_id, "lab.results.amend")
    released = await work.session.scalar(
        select(LabResult.id).where(
            LabResult.order_id == order.id,
            LabResult.test_code == code,
            LabResult.status.in_((R.FINAL, R.CORRECTED)),
        )
    )
    if released is None:
        raise NotFound(f"no released result {code} on this order")
    return await store(
        work,
        order,
        [Observation(code=code, value=value, amendment_reason=reason)],
        source="api",
        entered_by=work.principal.user_id,
    )


async def trend(work: Work, patient_id: int, code: str, limit: int = 100) -> list[LabResult]:
    """A patient's released values of one test over time (cumulative report)."""
    await readable_patient(work, patient_id, "lab.results.trend")
    rows = await work.session.scalars(
        select(LabResult)
        .where(
            LabResult.patient_id == patient_id,
            LabResult.test_code == code,
            LabResult.status.in_((R.FINAL, R.CORRECTED)),
        )
        .order_by(LabResult.observed_at.desc(), LabResult.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


async def reject_held(work: Work, result_id: int, reason: str) -> LabResult:
    """A supervisor discards a held (implausible) value; the technician re-runs the test."""
    _require_role(work, "lab.results.discard", Role.LAB_SUPERVISOR)
    row = await work.session.get(LabResult, result_id)
    if row is None:
        raise NotFound(f"no result {result_id}")
    try:
        order = await orders.readable(work, row.order_id, "lab.results.discard")
    except NotFound:
        raise NotFound(f"no result {result_id}") from None
    if row.status is not R.HELD:
        raise Conflict("only a held result is discarded")
    LIFECYCLE.set(row, R.SUPERSEDED)
    row.hold_reason = f"{row.hold_reason}; discarded: {reason.strip()}".strip("; ")
    work.audit("lab.results.discard", patient_id=order.patient_id, obj=("lab_result", row.id))
    return row
