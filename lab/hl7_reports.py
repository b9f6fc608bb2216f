"""HL7 v2.5 messages that carry the center's signed reports to a clinic's HIS (pure functions).

Lab reports go as ORU^R01 (one OBX per released result, LOINC coded); text reports (consult,
ECG and imaging reads) as MDM^T02 with one TX OBX per line. A report amendment is sent as a
correction, the way HL7 v2.5 spells one:

- ORU^R01: OBR-25 result status ``C`` ("correction to results", HL7 table 0123) and OBX-11
  ``C`` ("record coming over is a correction and thus replaces a final result", table 0085) on
  each corrected value; unchanged values keep ``F``.
- MDM: the event is T10, "document replacement notification and content" (v2.5 chapter 9,
  section 9.6.10: a new document with its own TXA-12 unique number that names the one it
  replaces in TXA-13, parent document number; the original stays, obsolete). T08 (edit) is for
  documents not yet made available, which a signed report always is; TXA-17 (table 0271) has no
  "corrected" value: a signed version is ``LA``, legally authenticated.

The text is escaped (``\\F\\ \\S\\ \\R\\ \\E\\ \\T\\``) and the message declares UTF-8 in MSH-18
(``UNICODE UTF-8``): Chinese text goes as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import hl7

from lab.hl7 import APPLICATION, FACILITY, VERSION, escape

CHARSET = "UNICODE UTF-8"
RESULT_STATUS = {"final": "F", "corrected": "C"}
DOCUMENT_TYPE = {  # HL7 table 0270 (suggested values)
    "ecg_read": ("CD", "心电图报告"),  # cardiodiagnostics
    "imaging_read": ("DI", "影像诊断报告"),  # diagnostic imaging
    "video_consult": ("CN", "会诊报告"),  # consultation
}
SEX = {"male": "M", "female": "F", "M": "M", "F": "F"}


@dataclass(frozen=True)
class OutgoingReport:
    """What the HIS is told of one signed report version."""

    kind: str
    """The request's kind (``lab_test``, ``ecg_read``, ...)."""
    request_identifier: str
    version: int
    signed_at: dt.datetime
    signer: str
    """The signing specialist's name."""
    signer_id: int
    patient_id: int
    patient_name: str
    resident_id: str
    sex: str
    birth_date: dt.date | None
    receiving_facility: str
    """The clinic's institution code (MSH-6)."""
    findings: str = ""
    impression: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    replaces_version: int | None = None
    """The version this one amends (None: the first signed version)."""

    @property
    def document_number(self) -> str:
        return f"{self.request_identifier}-{self.version}"

    @property
    def is_correction(self) -> bool:
        return self.replaces_version is not None


def _segment(name: str, fields: Mapping[int, str]) -> str:
    values = [""] * (max(fields) + 1 if fields else 1)
    values[0] = name
    for index, value in fields.items():
        values[index] = value
    return "|".join(values)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S") + "+0000"


def _header(
    report: OutgoingReport, kind: str, structure: str, now: dt.datetime, control: str
) -> str:
    return (
        f"MSH|^~\\&|{APPLICATION}|{FACILITY}|HIS|{escape(report.receiving_facility)}|"
        f"{_stamp(now)}||{kind}^{structure}|{control}|P|{VERSION}||||||{CHARSET}"
    )


def _pid(report: OutgoingReport) -> str:
    ident = escape(report.resident_id or str(report.patient_id))
    born = report.birth_date.strftime("%Y%m%d") if report.birth_date else ""
    return _segment(
        "PID",
        {
            1: "1",
            3: f"{ident}^^^{APPLICATION}^PI",
            5: escape(report.patient_name),
            7: born,
            8: SEX.get(report.sex, "U"),
        },
    )


def _person(report: OutgoingReport) -> str:
    """XCN-1 the user's ID, XCN-2 the name (Chinese names are not split)."""
    return f"{report.signer_id}^{escape(report.signer)}"


def message_type(report: OutgoingReport) -> str:
    """MSH-9 (message code and event) for the report."""
    if report.kind == "lab_test":
        return "ORU^R01"
    return "MDM^T10" if report.is_correction else "MDM^T02"


def build(report: OutgoingReport, *, now: dt.datetime, control_id: str) -> str:
    """The message for ``report`` (:func:`message_type` says which)."""
    if report.kind == "lab_test":
        return build_lab_oru(report, now=now, control_id=control_id)
    return build_mdm(report, now=now, control_id=control_id)


def build_lab_oru(report: OutgoingReport, *, now: dt.datetime, control_id: str) -> str:
    """An ORU^R01 of the released results in ``report.data`` (``results``, ``placer_number``)."""
    placer = escape(str(report.data.get("placer_number", report.request_identifier)))
    filler = escape(str(report.data.get("filler_number") or ""))
    signed = _stamp(report.signed_at)
    segments = [
        _header(report, "ORU^R01", "ORU_R01", now, control_id),
        _pid(report),
        _segment("ORC", {1: "RE", 2: placer, 3: filler}),
        _segment(
            "OBR",
            {
                1: "1",
                2: placer,
                3: filler,
                4: "LAB^检验报告^L",
                7: signed,
                22: signed,
                24: "LAB",
                25: "C" if report.is_correction else "F",
            },
        ),
    ]
    for index, result in enumerate(report.data.get("results", []), start=1):
        segments.append(_obx(index, result, signed))
    return str(hl7.parse("\r".join(segments)))


def _obx(index: int, result: Mapping[str, Any], signed: str) -> str:
    observed = result.get("observed_at")
    when = _stamp(dt.datetime.fromisoformat(observed)) if observed else signed
    numeric = result.get("numeric") is not None
    return _segment(
        "OBX",
        {
            1: str(index),
            2: "NM" if numeric else "ST",
            3: f"{escape(str(result.get('code', '')))}^{escape(str(result.get('name', '')))}^LN",
            5: escape(str(result.get("value", ""))),
            6: escape(str(result.get("unit") or "")),
            7: escape(str(result.get("reference_range") or "")),
            8: escape(str(result.get("flag") or "")),
            11: RESULT_STATUS.get(str(result.get("status")), "F"),
            14: when,
        },
    )


def build_mdm(report: OutgoingReport, *, now: dt.datetime, control_id: str) -> str:
    """An MDM^T02 (first version) or MDM^T10 (an amendment replacing the previous version):
    TXA, then one TX OBX per line of findings and impression."""
    event = "T10" if report.is_correction else "T02"
    doc_type, doc_name = DOCUMENT_TYPE.get(report.kind, ("CN", "会诊报告"))
    signed = _stamp(report.signed_at)
    parent = ""
    if report.replaces_version is not None:
        parent = f"{escape(report.request_identifier)}-{report.replaces_version}^{APPLICATION}"
    segments = [
        _header(report, f"MDM^{event}", "MDM_T02", now, control_id),
        f"EVN|{event}|{_stamp(now)}",
        _pid(report),
        "PV1|1|O",
        _segment(
            "TXA",
            {
                1: "1",
                2: f"{doc_type}^{doc_name}^HL70270",
                3: "TX",
                4: signed,
                9: _person(report),
                10: _person(report),
                12: f"{escape(report.document_number)}^{APPLICATION}",
                13: parent,
                14: escape(report.request_identifier),
                17: "LA",  # legally authenticated: signed (table 0271)
                19: "AV",  # available for patient care (table 0275)
                22: _person(report) + "^" * 13 + signed,  # PPN-15: when it was signed
            },
        ),
    ]
    status = "C" if report.is_correction else "F"
    index = 0
    for code, name, text in (
        ("FINDINGS", "所见 Findings", report.findings),
        ("IMPRESSION", "印象 Impression", report.impression),
    ):
        for line in text.splitlines():
            if line.strip():
                index += 1
                segments.append(
                    _segment(
                        "OBX",
                        {
                            1: str(index),
                            2: "TX",
                            3: f"{code}^{name}^L",
                            5: escape(line),
                            11: status,
                        },
                    )
                )
    return str(hl7.parse("\r".join(segments)))
