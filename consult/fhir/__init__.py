"""FHIR R4: the center's records as FHIR resources (plain dicts), and the scoped searches.

:mod:`consult.fhir.resources` maps domain rows to resources (no I/O); :mod:`consult.fhir.params`
parses search parameters (a bad one is :class:`~consult.errors.InvalidInput`);
:mod:`consult.fhir.search` runs the reads and searches with the same scoping, consent and audit
as the API. The HTTP front door is :mod:`web.fhir`.
"""

from consult.fhir.params import DateBound, Page, parse_count, parse_date, parse_id, parse_reference
from consult.fhir.resources import (
    RECORD_NUMBER_SYSTEM,
    REQUEST_SYSTEM,
    RESIDENT_ID_SYSTEM,
    bundle,
    capability_statement,
    diagnostic_report,
    operation_outcome,
    patient,
    service_request,
)

__all__ = [
    "RECORD_NUMBER_SYSTEM",
    "REQUEST_SYSTEM",
    "RESIDENT_ID_SYSTEM",
    "DateBound",
    "Page",
    "bundle",
    "capability_statement",
    "diagnostic_report",
    "operation_outcome",
    "parse_count",
    "parse_date",
    "parse_id",
    "parse_reference",
    "patient",
    "service_request",
]
