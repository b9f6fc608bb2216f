"""Does a message name the order's patient? The PID of an ORU^R01 against the patient we hold.

The center sends the patient to the LIS in the OML^O21 PID (:func:`lab.hl7.build_oml`): PID-3
the resident ID (or our patient number when there is none), PID-5 the name, PID-7 the birth date.
A result names its patient the same way: one PID-3 identifier must be the order's patient (our
number, the resident ID or one of their record numbers), and the name and birth date, when the
message gives them, must be theirs too (two identifiers, as in every laboratory).

The reasons never show what we hold: an ACK goes back to the sender.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select

from consult.center import Work
from consult.models import Patient, PatientRecordNumber


@dataclass(frozen=True)
class PatientIdentity:
    """How a message names its patient."""

    identifiers: tuple[str, ...]
    """PID-3: the ID component of every repetition."""
    name: tuple[str, ...] = ()
    """PID-5 components (family, given, middle), empty when not given."""
    birth_date: dt.date | None = None
    """PID-7, when given."""

    def __post_init__(self) -> None:
        if not any(i.strip() for i in self.identifiers):
            raise ValueError("a patient is named by at least one identifier (PID-3)")


def _plain(text: str) -> str:
    """A name compared without case, spaces or width differences (全角/半角)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "·.,-'")


def same_name(stored: str, components: tuple[str, ...]) -> bool:
    """Whether PID-5 (family^given^middle, or the whole name in one component, as we send it)
    is the stored name, in either order of family and given names."""
    parts = [c for c in components[:3] if c.strip()]
    if not parts:
        return True
    family, rest = parts[0], parts[1:]
    candidates = {_plain("".join(parts)), _plain("".join([*rest, family]))}
    return _plain(stored) in candidates


async def mismatch(work: Work, patient: Patient, identity: PatientIdentity) -> str:
    """Why ``identity`` does not name ``patient``; empty when it does."""
    numbers = await work.session.scalars(
        select(PatientRecordNumber.number).where(PatientRecordNumber.patient_id == patient.id)
    )
    known = {str(patient.id), *numbers, *([patient.resident_id] if patient.resident_id else [])}
    known_upper = {k.strip().upper() for k in known}
    if not any(i.strip().upper() in known_upper for i in identity.identifiers):
        return f"PID-3 {', '.join(identity.identifiers)[:60]} is not the patient of this order"
    if not same_name(patient.name, identity.name):
        return "PID-5 patient name is not the name of this order's patient"
    if (
        identity.birth_date is not None
        and patient.birth_date is not None
        and identity.birth_date != patient.birth_date
    ):
        return "PID-7 birth date is not that of this order's patient"
    return ""
