"""HL7 v2 messages to and from the domain, built and parsed with the ``hl7`` library.

Pure functions: ORU^R01 in (:func:`parse_oru`), ACK out (:func:`build_ack`), OML^O21 out
(:func:`build_oml`). Transport lives in :mod:`lab.mllp`; the handler tying them to the
services in :mod:`lab.inbound`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import hl7
from hl7.containers import Message, Segment

from lab.results import Observation

APPLICATION = "TELECENTER"
FACILITY = "COUNTY"
VERSION = "2.5.1"
ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


class Hl7Error(ValueError):
    """A message that cannot be taken: ``ack`` is AR (reject) or AE (error), ``code`` from HL7
    table 0357."""

    def __init__(self, text: str, *, ack: str = "AR", code: str = "100", where: str = "") -> None:
        super().__init__(text)
        self.text, self.ack, self.code, self.where = text, ack, code, where


ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "200": "Unsupported message type",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}


@dataclass(frozen=True)
class ResultGroup:
    """The observations of one order (ORC/OBR) in an ORU message."""

    placer: str
    filler: str
    observations: list[Observation]
    obx_indexes: list[int] = field(default_factory=list)
    """The OBX-1 set ids, for error locations."""


@dataclass(frozen=True)
class Oru:
    control_id: str
    sending_application: str
    groups: list[ResultGroup]
    patient_ids: tuple[str, ...] = ()
    """PID-3 identifiers (every repetition's ID component): checked against the order's patient."""


def escape(text: str) -> str:
    for raw, escaped in ESCAPES:
        text = text.replace(raw, escaped)
    return text.replace("\r", " ").replace("\n", " ")


def parse(raw: str) -> Message:
    """Parse one message; anything that is not HL7 v2 is an AR."""
    text = raw.replace("\r\n", "\r").replace("\n", "\r").strip()
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Error("message does not start with an MSH segment")
    try:
        message = hl7.parse(text)
        message.segment("MSH")
    except (ValueError, KeyError, IndexError) as exc:
        raise Hl7Error(f"message cannot be parsed: {exc}") from None
    return message


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
    """The result groups of an ORU^R01; a broken structure or field is an AR."""
    msh = message.segment("MSH")
    kind, event = message_type(message)
    if (kind, event) != ("ORU", "R01"):
        raise Hl7Error(f"unsupported message type {kind}^{event}", code="200")
    groups: list[ResultGroup] = []
    orc_placer = orc_filler = ""
    current: ResultGroup | None = None
    for segment in message:
        name = str(segment[0])
        if name == "ORC":
            orc_placer, orc_filler = get(segment, 2), get(segment, 3)
        elif name == "OBR":
            placer = get(segment, 2) or orc_placer
            filler = get(segment, 3) or orc_filler
            if not placer and not filler:
                raise Hl7Error("OBR without placer or filler order number", code="101", where="OBR")
            current = ResultGroup(placer, filler, [])
            groups.append(current)
        elif name == "OBX":
            if current is None:
                raise Hl7Error("OBX before any OBR", code="100", where="OBX")
            _add_observation(current, segment)
    if not groups:
        raise Hl7Error("ORU^R01 without an OBR segment", code="101", where="OBR")
    return Oru(get(msh, 10), get(msh, 3), groups, _patient_ids(message))


def _patient_ids(message: Message) -> tuple[str, ...]:
    """The ID component of each PID-3 repetition (none when there is no PID)."""
    try:
        pid = message.segment("PID")
    except KeyError:
        return ()
    if len(pid) <= 3:
        return ()
    pid3 = pid[3]
    repetitions = [pid3] if isinstance(pid3, str) else list(pid3)
    if repetitions and not any(isinstance(r, hl7.Repetition) for r in repetitions):
        repetitions = [pid3]  # a single value with no components
    ids = (_first_leaf(r).strip() for r in repetitions)
    return tuple(i for i in ids if i)


def _first_leaf(value: object) -> str:
    """The first text inside nested python-hl7 containers (the ID component)."""
    while not isinstance(value, str):
        if not isinstance(value, list) or not value:
            return ""
        value = value[0]
    return value


def _add_observation(group: ResultGroup, obx: Segment) -> None:
    set_id = get(obx, 1)
    where = f"OBX^{set_id or len(group.observations) + 1}^5"
    status = get(obx, 11)
    if status in ("X", "D", "W"):  # cannot be obtained / deleted / wrong: nothing to store
        return
    try:
        observed = parse_time(get(obx, 14))
        group.observations.append(
            Observation(
                code=get(obx, 3, 1),
                value=_value(obx),
                unit=get(obx, 6, 1),
                observed_at=observed,
            )
        )
    except ValueError as exc:
        raise Hl7Error(f"{where}: {exc}", code="102", where=where) from None
    group.obx_indexes.append(int(set_id) if set_id.isdigit() else len(group.observations))


@dataclass(frozen=True)
class AckError:
    """One problem reported in an ERR segment."""

    text: str
    code: str = "207"
    where: str = ""
    severity: str = "E"


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


def ack_code_of(raw: str) -> tuple[str, str]:
    """MSA-1 and MSA-3 of an ACK (for the MLLP client and the tests)."""
    message = hl7.parse(raw.strip())
    msa = message.segment("MSA")
    return get(msa, 1), get(msa, 3)


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
    filler: str = "",
    now: dt.datetime | None = None,
    sending_application: str = "LIS",
    patient_id: str = "",
) -> str:
    """An ORU^R01 with one OBR and OBX lines of (code, name, value, unit) — what a LIS sends
    (used by the bench, the tests and the demo); ``patient_id`` goes into PID-3."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|{sending_application}|LAB|{APPLICATION}|{FACILITY}|{stamp}||ORU^R01^ORU_R01|"
        f"{control_id}|P|{VERSION}",
        f"PID|1||{escape(patient_id)}^^^LIS^PI" if patient_id else "PID|1",
        f"ORC|RE|{placer}|{filler}",
        f"OBR|1|{placer}|{filler}|||{stamp}",
    ]
    for index, (code, name, value, unit) in enumerate(observations, start=1):
        segments.append(
            f"OBX|{index}|NM|{code}^{escape(name)}^LN||{escape(value)}|{escape(unit)}|||||F|||"
            f"{stamp}"
        )
    return str(hl7.parse("\r".join(segments)))
