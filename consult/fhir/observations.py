"""Lab results and ECG measurements as FHIR Observations (plain dicts, no I/O).

Observation ids name their source: ``lab-<result id>`` for a released lab result (coded in LOINC
when the catalogue codes it so), ``ecg-<recording id>`` for the automated measurements of an ECG
(a panel with heart rate, PR, QRS, QT and QTc components, each LOINC-coded).
"""

from __future__ import annotations

import math
import re
from typing import Any

from consult.fhir.params import bad_param
from consult.fhir.resources import BASE, LOINC, Json, instant, reference
from ecg.store import EcgRecording
from lab.tables import LabResult
from lab.vocab import ResultStatus

LAB_PREFIX, ECG_PREFIX = "lab", "ecg"
LOCAL_TEST_SYSTEM = f"{BASE}/CodeSystem/lab-test"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ECG_PANEL = ("34534-8", "12 lead EKG panel")
# (LOINC code, display, UCUM unit): the ECG measurements we report
ECG_MEASURES = {
    "hr": ("8867-4", "Heart rate", "/min"),
    "pr": ("8625-6", "P-R Interval", "ms"),
    "qrs": ("8633-0", "QRS duration", "ms"),
    "qt": ("8634-8", "Q-T interval", "ms"),
    "qtc": ("8636-3", "Q-T interval corrected", "ms"),
}
RESULT_STATUS = {ResultStatus.FINAL: "final", ResultStatus.CORRECTED: "corrected"}
FLAGS = {"N": "N", "L": "L", "H": "H", "LL": "LL", "HH": "HH"}
_ID = re.compile(r"^(lab|ecg)-([0-9]{1,18})$")


def parse_observation_id(value: str) -> tuple[str, int]:
    """``lab-12`` -> ``("lab", 12)``; anything else is a bad id."""
    match = _ID.match(value)
    if match is None or int(match.group(2)) == 0:
        raise bad_param("id", value, "an Observation id is lab-<n> or ecg-<n>")
    return match.group(1), int(match.group(2))


def _category(code: str) -> list[Json]:
    return [{"coding": [{"system": CATEGORY, "code": code}]}]


def lab_observation(row: LabResult, *, request_id: int, system: str | None) -> Json:
    """A released result; ``system`` is the catalogue's coding system of the test (``LN``)."""
    if row.status not in RESULT_STATUS or row.released_at is None:
        raise ValueError(f"lab result {row.id} is not released")
    coding: Json = {
        "system": LOINC if system == "LN" else LOCAL_TEST_SYSTEM,
        "code": row.test_code,
    }
    if row.name:
        coding["display"] = row.name
    resource: Json = {
        "resourceType": "Observation",
        "id": f"{LAB_PREFIX}-{row.id}",
        "meta": {"lastUpdated": instant(row.released_at)},
        "basedOn": [reference("ServiceRequest", request_id)],
        "status": RESULT_STATUS[row.status],
        "category": _category("laboratory"),
        "code": {"coding": [coding], "text": row.name or row.test_code},
        "subject": reference("Patient", row.patient_id),
        "effectiveDateTime": instant(row.observed_at),
        "issued": instant(row.released_at),
    }
    resource.update(_lab_value(row))
    if row.flag in FLAGS:
        resource["interpretation"] = [
            {"coding": [{"system": INTERPRETATION, "code": FLAGS[row.flag]}]}
        ]
    if row.range_text:
        resource["referenceRange"] = [{"text": row.range_text}]
    return resource


def _lab_value(row: LabResult) -> Json:
    if row.numeric is None or not math.isfinite(row.numeric):
        return {"valueString": row.value}
    quantity: Json = {"value": row.numeric}
    if row.unit:
        quantity.update(unit=row.unit, system=UCUM, code=row.unit)
    return {"valueQuantity": quantity}


def ecg_measurements(analysis: dict[str, Any]) -> dict[str, float]:
    """HR, PR, QRS, QT, QTc (Bazett, on the reported QT) from a stored analysis; missing ones
    are left out. QRS and QT are the conventional (device-style) values when there are any."""
    intervals = analysis.get("intervals") or {}
    conventional = analysis.get("conventional") or {}
    values: dict[str, float | None] = {
        "hr": _number(analysis.get("heart_rate_bpm")),
        "pr": _number(intervals.get("pr_ms")),
        "qrs": _number(conventional.get("qrs_ms")) or _number(intervals.get("qrs_ms")),
        "qt": _number(conventional.get("qt_ms")) or _number(intervals.get("qt_ms")),
    }
    qt, rr = values["qt"], _number(intervals.get("rr_ms"))
    if qt is not None and rr is not None and rr > 0:
        values["qtc"] = float(round(qt / math.sqrt(rr / 1000.0)))
    return {key: value for key, value in values.items() if value is not None}


def _number(value: Any) -> float | None:
    """A finite number from stored JSON, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def ecg_observation(row: EcgRecording) -> Json:
    """The automated measurements of one recording, as a panel with one component each."""
    measured = ecg_measurements(row.analysis or {})
    resource: Json = {
        "resourceType": "Observation",
        "id": f"{ECG_PREFIX}-{row.id}",
        "meta": {"lastUpdated": instant(row.uploaded_at)},
        "basedOn": [reference("ServiceRequest", row.request_id)],
        "status": "final",
        "category": _category("procedure"),
        "code": {"coding": [{"system": LOINC, "code": ECG_PANEL[0], "display": ECG_PANEL[1]}]},
        "subject": reference("Patient", row.patient_id),
        "effectiveDateTime": instant(row.uploaded_at),
        "method": {"text": "automated ECG analysis (telecenter)"},
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "valueQuantity": {
                    "value": measured[key],
                    "unit": unit,
                    "system": UCUM,
                    "code": unit,
                },
            }
            for key, (code, display, unit) in ECG_MEASURES.items()
            if key in measured
        ],
    }
    if not resource["component"]:
        del resource["component"]
        resource["dataAbsentReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "error",
                }
            ]
        }
    return resource
