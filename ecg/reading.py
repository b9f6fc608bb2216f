"""No ECG report is signed unseen: what each reader fetched of a tracing, and the sign check.

Every window, whole-record fetch and overview a reader's page asks for is recorded
(:func:`record_view`, in the transaction that audits the read). Signing a report of an ECG read
then needs, for every ECG of the request, that the signer has seen it:

- a record of up to :data:`ecg.overview.SHORT_S` seconds: its whole tracing (one window from the
  start to the end, or the whole-record samples);
- a longer one: its overview, at least one page of strips, and a window over every critical
  episode (a VT run is not signed off from the overview alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from consult.center import Work
from consult.errors import Conflict
from consult.models import DiagnosticRequest, Report
from consult.vocab import RequestKind
from ecg.overview import SHORT_S, episodes_of, must_view
from ecg.store import EcgRecording, EcgView

WHOLE, WINDOW, OVERVIEW = "whole", "window", "overview"
EDGE_S = 0.05


@dataclass(frozen=True)
class Seen:
    """One fetch: its kind and the span of the tracing it held."""

    kind: str
    start_s: float
    end_s: float


async def record_view(
    work: Work, recording: EcgRecording, kind: str, start_s: float = 0.0, end_s: float = 0.0
) -> None:
    """Remember that the caller fetched this part of the tracing (once per identical fetch)."""
    user_id = work.principal.user_id
    if not user_id:
        return
    found = await work.session.scalar(
        select(EcgView.id).where(
            EcgView.ecg_id == recording.id,
            EcgView.user_id == user_id,
            EcgView.kind == kind,
            EcgView.start_s == start_s,
            EcgView.end_s == end_s,
        )
    )
    if found is None:
        work.session.add(
            EcgView(
                ecg_id=recording.id,
                user_id=user_id,
                kind=kind,
                start_s=start_s,
                end_s=end_s,
                at=work.now,
            )
        )


def unseen(recording: EcgRecording, seen: Iterable[Seen]) -> list[str]:
    """What is left to look at before signing (empty: the reader has seen enough)."""
    seen = list(seen)
    duration = recording.duration_s
    windows = [s for s in seen if s.kind == WINDOW]
    if any(s.kind == WHOLE for s in seen):
        return []
    if duration <= SHORT_S:
        whole = any(w.start_s <= EDGE_S and w.end_s >= duration - EDGE_S for w in windows)
        return [] if whole else ["tracing"]
    left = []
    if not any(s.kind == OVERVIEW for s in seen):
        left.append("overview")
    if not windows:
        left.append("strips")
    for start, end in must_view(episodes_of(recording.analysis or {}, duration)):
        if not any(w.start_s < max(end, start + EDGE_S) and w.end_s > start for w in windows):
            left.append(f"episode@{start:.1f}")
    return left


async def _seen(work: Work, ecg_ids: list[int]) -> dict[int, list[Seen]]:
    rows = await work.session.scalars(
        select(EcgView).where(
            EcgView.ecg_id.in_(ecg_ids), EcgView.user_id == work.principal.user_id
        )
    )
    by_ecg: dict[int, list[Seen]] = {}
    for row in rows:
        by_ecg.setdefault(row.ecg_id, []).append(Seen(row.kind, row.start_s, row.end_s))
    return by_ecg


async def unseen_by(work: Work, recording: EcgRecording) -> list[str]:
    """What the caller has still to look at of ``recording`` before signing."""
    return unseen(recording, (await _seen(work, [recording.id])).get(recording.id, []))


async def require_seen(work: Work, report: Report, request: DiagnosticRequest) -> None:
    """The sign check: the signer has seen every ECG of an ECG read (409 ``ecg_not_viewed``)."""
    if request.kind is not RequestKind.ECG_READ:
        return
    recordings = list(
        await work.session.scalars(
            select(EcgRecording).where(EcgRecording.request_id == request.id)
        )
    )
    if not recordings:
        return
    seen = await _seen(work, [r.id for r in recordings])
    missing = {r.id: left for r in recordings if (left := unseen(r, seen.get(r.id, [])))}
    if missing:
        what = "; ".join(f"ECG {k}: {', '.join(v)}" for k, v in sorted(missing.items()))
        work.deny(
            "report.sign",
            patient_id=request.patient_id,
            obj=("report", report.id),
            reason="tracing not viewed",
            unseen=what,
        )
        raise Conflict(
            f"签发前请先阅读心电图波形 / view the tracing before signing ({what})",
            code="ecg_not_viewed",
        )
