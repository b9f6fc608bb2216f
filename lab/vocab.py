"""The lab center's vocabularies: states of orders, specimens and results, flags, reasons."""

from __future__ import annotations

from enum import StrEnum

from consult.vocab import AckMethod as _AckMethod


class OrderStatus(StrEnum):
    ORDERED = "ordered"
    COLLECTED = "collected"
    SHIPPED = "shipped"
    RECEIVED = "received"
    RESULTED = "resulted"
    RELEASED = "released"
    CANCELLED = "cancelled"


class SpecimenStatus(StrEnum):
    PENDING = "pending"
    COLLECTED = "collected"
    SHIPPED = "shipped"
    RECEIVED = "received"
    REJECTED = "rejected"


class RejectionReason(StrEnum):
    HAEMOLYSED = "haemolysed"
    INSUFFICIENT = "insufficient"
    UNLABELLED = "unlabelled"
    CLOTTED = "clotted"


class ResultStatus(StrEnum):
    """Like HL7 OBX-11: preliminary (entered, awaiting validation), held for review, final
    (released), corrected (a released amendment), superseded (replaced by a newer row)."""

    PRELIMINARY = "preliminary"
    HELD = "held"
    FINAL = "final"
    CORRECTED = "corrected"
    SUPERSEDED = "superseded"

    @property
    def is_released(self) -> bool:
        return self in (ResultStatus.FINAL, ResultStatus.CORRECTED)


class Flag(StrEnum):
    """Abnormal flags, HL7 table 0078 (the subset this center sets)."""

    NORMAL = "N"
    LOW = "L"
    HIGH = "H"
    CRITICAL_LOW = "LL"
    CRITICAL_HIGH = "HH"
    NONE = ""

    @property
    def is_critical(self) -> bool:
        return self in (Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH)


AckMethod = _AckMethod
"""How a critical value was acknowledged: one vocabulary with every critical alert."""


SPECIMEN_ZH = {
    "blood_edta": "EDTA抗凝全血",
    "serum": "血清",
    "plasma_citrate": "枸橼酸钠抗凝血浆",
    "urine": "尿液",
}
