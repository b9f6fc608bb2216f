"""HL7 v2 messages to and from the domain, built and parsed with the ``hl7`` library.

Pure functions: ORU^R01 in (:func:`parse_oru`), ACK out (:func:`build_ack`), OML^O21 out
(:func:`build_oml`). Transport lives in :mod:`lab.mllp`; the handler tying them to the
services in :mod:`lab.inbound`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

import hl7
from hl7.containers import Message, Segment

from lab.identity import PatientIdentity
from lab.results import Observation

APPLICATION = "TELECENTER"
FACILITY = "COUNTY"
VERSION = "2.5.1"
ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
CORRECTION_REASON = "corrected by the laboratory system (OBX-11 C)"
NO_VALUE = frozenset({"X", "I", "N", "O"})
"""OBX-11 statuses without a value: cannot be obtained, pending, not asked, order detail."""
NOT_TAKEN = {
    "D": "deletes a result",
    "W": "marks a result wrong",
    "U": "finalises a result without sending it",
}
"""OBX-11 statuses the center does not take over HL7: a person corrects the result here."""
_NM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_SN_COMPARATORS = frozenset({"", ">", "<", ">=", "<=", "=", "<>"})
_SN_SEPARATORS = frozenset({"", "-", "+", "/", ".", ":"})


@dataclass(frozen=True)
class AckError:
    """One problem reported in an ERR segment (severity E error, W warning, I information)."""

    text: str
    code: str = "207"
    where: str = ""
    severity: str = "E"


class Hl7Error(ValueError):
    """A message that cannot be taken: ``ack`` is AR (reject) or AE (error), ``code`` from HL7
    table 0357; ``more``: further problems found in the same message."""

    def __init__(
        self,
        text: str,
        *,
        ack: str = "AR",
        code: str = "100",
        where: str = "",
        more: tuple[AckError, ...] = (),
    ) -> None:
        super().__init__(text)
        self.text, self.ack, self.code, self.where = text, ack, code, where
        self.more = more

    @property
    def errors(self) -> list[AckError]:
        return [AckError(self.text, self.code, self.where), *self.more]


ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}


@dataclass(frozen=True)
class ResultGroup:
    """The observations of one order (ORC/OBR) in an ORU message, and the patient that the PID
    before it names."""

    placer: str
    filler: str
    patient: PatientIdentity
    observations: list[Observation]
    obx_indexes: list[int] = field(default_factory=list)
    """The OBX-1 set ids, for error locations."""


@dataclass(frozen=True)
class Oru:
    control_id: str
    sending_application: str
    groups: list[ResultGroup]


def escape(text: str) -> str:
    for raw, escaped in ESCAPES:
        text = text.replace(raw, escaped)
    return text.replace("\r", " ").replace("\n", " ")


def parse(raw: str) -> Message:
    """Parse one message; anything that is not HL7 v2 is an AR."""
    text = raw.replace("\r\n", "\r").replace("\n", "\r").strip()
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Error("message does not start with an MSH segment")
    _check_msh(text.split("\r", 1)[0])
    try:
        message = hl7.parse(text)
        message.segment("MSH")
    except (ValueError, KeyError, IndexError) as exc:
        raise Hl7Error(f"message cannot be parsed: {exc}") from None
    return message


def _check_msh(msh: str) -> None:
    """The header's delimiters are five distinct non-alphanumeric characters, and its required
    fields up to MSH-12 (the version) are there: the ACK is built from them."""
    delimiters = msh[3:8]
    if len(set(delimiters)) != 5 or any(c.isalnum() or c.isspace() for c in delimiters):
        raise Hl7Error(f"MSH delimiters {delimiters!r} are not five distinct symbols")
    if len(msh.split(msh[3])) < 12:
        raise Hl7Error("MSH ends before MSH-12: MSH-9 to MSH-12 are required", code="101")


def get(segment: Segment, field_num: int, component: int = 1) -> str:
    """A field's (or component's) unescaped text; empty when absent."""
    try:
        return str(segment.extract_field(1, field_num, 1, component, 1)).strip()
    except IndexError:
        return ""


def message_type(message: Message) -> tuple[str, str]:
    msh = message.segment("MSH")
    return get(msh, 9, 1), get(msh, 9, 2)


def parse_time(value: str) -> dt.datetime | None:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ]); local times without offset are UTC."""
    if not value:
        return None
    text, offset = value, dt.UTC
    for sign in "+-":
        if sign in text[8:]:
            head, tail = text[:8] + text[8:].split(sign)[0], text[8:].split(sign)[1]
            if len(tail) != 4 or not tail.isdigit():
                raise ValueError(f"bad time zone in {value!r}")
            minutes = int(tail[:2]) * 60 + int(tail[2:])
            offset = dt.timezone(dt.timedelta(minutes=minutes if sign == "+" else -minutes))
            text = head
    text = text.split(".")[0]
    formats = {
        4: "%Y",
        6: "%Y%m",
        8: "%Y%m%d",
        10: "%Y%m%d%H",
        12: "%Y%m%d%H%M",
        14: "%Y%m%d%H%M%S",
    }
    fmt = formats.get(len(text))
    if fmt is None:
        raise ValueError(f"bad time {value!r}")
    return dt.datetime.strptime(text, fmt).replace(tzinfo=offset).astimezone(dt.UTC)


def _value(obx: Segment) -> str:
    kind = get(obx, 2, 1)
    if kind in ("CE", "CWE", "CNE"):
        return get(obx, 5, 2) or get(obx, 5, 1)
    if kind == "SN":
        return "".join(get(obx, 5, c) for c in (1, 2, 3, 4))
    return get(obx, 5, 1)


def parse_oru(message: Message) -> Oru:
    """The result groups of an ORU^R01, each under the PID before it.

    A broken structure, a missing PID or a malformed field is an AR; values that do not fit
    their OBX-2 type, and OBX-11 statuses the center does not take, are an AE naming each OBX.
    Either way nothing of the message is stored.
    """
    msh = message.segment("MSH")
    kind, event = message_type(message)
    if (kind, event) != ("ORU", "R01"):
        raise Hl7Error(f"unsupported message type {kind}^{event}", code="200")
    groups: list[ResultGroup] = []
    problems: list[AckError] = []
    patient: PatientIdentity | None = None
    orc_placer = orc_filler = ""
    current: ResultGroup | None = None
    for segment in message:
        name = str(segment[0])
        if name == "PID":
            patient, current = _patient(segment), None
        elif name == "ORC":
            orc_placer, orc_filler = get(segment, 2), get(segment, 3)
        elif name == "OBR":
            current = _group(segment, orc_placer, orc_filler, patient)
            groups.append(current)
        elif name == "OBX":
            if current is None:
                raise Hl7Error("OBX before any OBR", code="100", where="OBX")
            problems += _add_observation(current, segment)
    if not groups:
        raise Hl7Error("ORU^R01 without an OBR segment", code="101", where="OBR")
    if problems:
        first = problems[0]
        raise Hl7Error(
            first.text, ack="AE", code=first.code, where=first.where, more=tuple(problems[1:])
        )
    return Oru(get(msh, 10), get(msh, 3), groups)


def _group(obr: Segment, placer: str, filler: str, patient: PatientIdentity | None) -> ResultGroup:
    placer = get(obr, 2) or placer
    filler = get(obr, 3) or filler
    if not placer and not filler:
        raise Hl7Error("OBR without placer or filler order number", code="101", where="OBR")
    if patient is None:
        raise Hl7Error(
            "no PID segment before the OBR: results must name their patient",
            code="100",
            where="PID",
        )
    return ResultGroup(placer, filler, patient, [])


def _patient(pid: Segment) -> PatientIdentity:
    """PID-3 (each repetition's ID), PID-5 (the first name's components), PID-7."""
    ids: list[str] = []
    for repetition in range(1, 11):
        try:
            value = str(pid.extract_field(1, 3, repetition, 1, 1)).strip()
        except IndexError:
            break
        if value:
            ids.append(value[:64])
    if not ids:
        raise Hl7Error("PID-3 names no patient identifier", code="101", where="PID^1^3")
    name = tuple(get(pid, 5, c) for c in (1, 2, 3))
    birth = get(pid, 7)
    try:
        born = parse_time(birth[:8])
    except ValueError as exc:
        raise Hl7Error(f"PID-7: {exc}", code="102", where="PID^1^7") from None
    day = born.date() if born and len(birth) >= 8 else None  # a year alone is not compared
    return PatientIdentity(tuple(ids), name, day)


def _value_problem(obx: Segment) -> str:
    """Why OBX-5 does not fit OBX-2 (NM numeric, SN structured numeric); empty if it does."""
    kind = get(obx, 2, 1)
    if kind == "NM":
        value = get(obx, 5, 1)
        return "" if _NM.fullmatch(value) else f"value {value[:40]!r} is not numeric (NM)"
    if kind != "SN":
        return ""
    comparator, first, separator, second = (get(obx, 5, c) for c in (1, 2, 3, 4))
    well_formed = (
        comparator in _SN_COMPARATORS
        and separator in _SN_SEPARATORS
        and bool(_NM.fullmatch(first))
        and (bool(_NM.fullmatch(second)) if separator else not second)
    )
    return "" if well_formed else f"value {_value(obx)[:40]!r} is not structured numeric (SN)"


def _add_observation(group: ResultGroup, obx: Segment) -> list[AckError]:
    """Add the OBX's value to ``group``; the problems that refuse it (none: added, or no value
    to add)."""
    set_id = get(obx, 1)
    where = f"OBX^{set_id or len(group.observations) + 1}"
    status = get(obx, 11)
    if status in NO_VALUE:
        return []
    if status in NOT_TAKEN:
        text = f"{where}: OBX-11 {status} {NOT_TAKEN[status]}, not taken over HL7"
        return [AckError(f"{text}; correct the result in the center", "103", f"{where}^11")]
    problem = _value_problem(obx)
    if problem:
        return [AckError(f"{where}: {problem}", "102", f"{where}^5")]
    try:
        observed = parse_time(get(obx, 14))
        group.observations.append(
            Observation(
                code=get(obx, 3, 1),
                value=_value(obx),
                unit=get(obx, 6, 1),
                observed_at=observed,
                amendment_reason=CORRECTION_REASON if status == "C" else "",
            )
        )
    except ValueError as exc:
        raise Hl7Error(f"{where}^5: {exc}", code="102", where=f"{where}^5") from None
    group.obx_indexes.append(int(set_id) if set_id.isdigit() else len(group.observations))
    return []


def build_ack(
    message: Message | None,
    ack_code: str,
    errors: list[AckError] | None = None,
    *,
    now: dt.datetime | None = None,
) -> str:
    """An ACK: MSA-1 AA/AE/AR, MSA-3 the first reason, one ERR segment per problem."""
    errors = errors or []
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    control = uuid.uuid4().hex[:20]
    if message is not None:
        ack = message.create_ack(ack_code, control, application=APPLICATION, facility=FACILITY)
        ack.segment("MSH").assign_field(stamp, 7)
        text = str(ack).rstrip("\r")
    else:  # nothing usable to answer to: a bare reject
        text = (
            f"MSH|^~\\&|{APPLICATION}|{FACILITY}|||{stamp}||ACK|{control}|P|{VERSION}"
            f"\rMSA|{ack_code}|"
        )
    segments = text.split("\r")
    if errors:
        msa = segments[1].split("|")[:3]
        segments[1] = "|".join([*msa, escape(errors[0].text)[:80]])
    for error in errors:
        name = ERROR_NAMES.get(error.code, "Application error")
        segments.append(
            f"ERR||{error.where}|{error.code}^{name}^HL70357|{error.severity}"
            f"||||{escape(error.text)[:250]}"
        )
    return str(hl7.parse("\r".join(segments)))


@dataclass(frozen=True)
class Ack:
    """What an ACK says: MSA-1 (the code), MSA-2 (the control ID of the message it answers)
    and MSA-3 (the peer's text)."""

    code: str
    answers: str
    text: str


def read_ack(raw: str) -> Ack:
    """The MSA of an ACK; raises ``ValueError``, ``KeyError`` or ``IndexError`` on a message
    that is not one."""
    message = hl7.parse(raw.strip())
    msa = message.segment("MSA")
    return Ack(code=get(msa, 1), answers=get(msa, 2), text=get(msa, 3))


def ack_code_of(raw: str) -> tuple[str, str]:
    """MSA-1 and MSA-3 of an ACK (for the MLLP client and the tests)."""
    ack = read_ack(raw)
    return ack.code, ack.text


def control_id_of(raw: str) -> str:
    """MSH-10 of a message (empty when it has none)."""
    return get(hl7.parse(raw.strip()).segment("MSH"), 10)


@dataclass(frozen=True)
class OrderLine:
    code: str
    name: str
    system: str = "LN"


@dataclass(frozen=True)
class OutgoingOrder:
    """What an OML^O21 carries: the patient, the order numbers, the tests, the specimens."""

    placer: str
    patient_id: int
    patient_name: str
    resident_id: str
    sex: str
    birth_date: dt.date | None
    priority: str
    ordered_at: dt.datetime
    lines: list[OrderLine]
    specimens: list[tuple[str, str]]
    """(label, type) pairs."""
    ordering_facility: str = ""
    clinical_question: str = ""


PRIORITY_CODE = {"stat": "S", "urgent": "A", "routine": "R"}


def build_oml(order: OutgoingOrder, *, now: dt.datetime, control_id: str) -> str:
    """An OML^O21 new order (ORC-1 NW) for the LIS: one ORC/OBR pair per ordered test."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    birth = order.birth_date.strftime("%Y%m%d") if order.birth_date else ""
    ident = escape(order.resident_id or str(order.patient_id))
    segments = [
        f"MSH|^~\\&|{APPLICATION}|{FACILITY}|LIS|LAB|{stamp}||OML^O21^OML_O21|{control_id}|P|"
        f"{VERSION}|||AL|NE||UNICODE UTF-8",
        f"PID|1||{ident}^^^{APPLICATION}^PI||{escape(order.patient_name)}||{birth}|{order.sex}",
    ]
    priority = PRIORITY_CODE.get(order.priority, "R")
    ordered = order.ordered_at.strftime("%Y%m%d%H%M%S")
    for index, line in enumerate(order.lines, start=1):
        segments.append(
            f"ORC|NW|{escape(order.placer)}||{escape(order.placer)}|||^^^^^{priority}||{ordered}"
            f"|||||||||{escape(order.ordering_facility)}"
        )
        segments.append(
            f"OBR|{index}|{escape(order.placer)}||{escape(line.code)}^{escape(line.name)}^"
            f"{line.system}|||{ordered}||||||{escape(order.clinical_question)[:200]}"
        )
    for index, (label, kind) in enumerate(order.specimens, start=1):
        segments.append(f"SPM|{index}|{escape(label)}||{escape(kind)}")
    return str(hl7.parse("\r".join(segments)))


def build_oru(
    placer: str,
    observations: list[tuple[str, str, str, str]],
    *,
    control_id: str,
    patient_id: str,
    patient_name: str = "",
    birth_date: dt.date | None = None,
    filler: str = "",
    now: dt.datetime | None = None,
    sending_application: str = "LIS",
    value_type: str = "NM",
    result_status: str = "F",
) -> str:
    """An ORU^R01 with one PID, one OBR and OBX lines of (code, name, value, unit), as a LIS
    answers our OML (used by the bench, the tests and the demo): ``patient_id`` in PID-3 (empty:
    a PID without identifier), the name in PID-5, the birth date in PID-7."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    born = birth_date.strftime("%Y%m%d") if birth_date else ""
    ident = f"{escape(patient_id)}^^^{APPLICATION}^PI" if patient_id else ""
    segments = [
        f"MSH|^~\\&|{sending_application}|LAB|{APPLICATION}|{FACILITY}|{stamp}||ORU^R01^ORU_R01|"
        f"{control_id}|P|{VERSION}",
        f"PID|1||{ident}||{escape(patient_name)}||{born}",
        f"ORC|RE|{placer}|{filler}",
        f"OBR|1|{placer}|{filler}|||{stamp}",
    ]
    for index, (code, name, value, unit) in enumerate(observations, start=1):
        segments.append(
            f"OBX|{index}|{value_type}|{code}^{escape(name)}^LN||{escape(value)}|{escape(unit)}"
            f"|||||{result_status}|||{stamp}"
        )
    return str(hl7.parse("\r".join(segments)))
