"""The C-FIND / QIDO matching rules of PS3.4 C.2.2.2, translated to SQL over the index.

- universal matching: an empty value (or ``*``) constrains nothing and asks for the value back;
- single value matching: equality (person names case-insensitively);
- wildcard matching: ``*`` and ``?`` become SQL ``LIKE`` patterns (``%`` and ``_`` escaped);
- range matching for dates and times: ``a-b``, ``-b``, ``a-`` (inclusive, at the precision given);
- list of UID matching: backslash-separated UIDs become ``IN``; a backslash list of other values
  matches any of them;
- sequence matching is not offered: such keys are returned empty.

:func:`select_for` builds the query of one level; :func:`values_of` reads a result row back as
DICOM keyword -> value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from imaging.index import ImagingInstance, ImagingPatient, ImagingSeries, ImagingStudy
from imaging.node_values import Level, QueryError

ESCAPE = "!"


class Kind(StrEnum):
    TEXT = "text"  # CS, LO, SH, AE...
    NAME = "name"  # PN
    UID = "uid"
    DATE = "date"
    TIME = "time"
    NUMBER = "number"
    COUNT = "count"  # return only
    MODALITIES = "modalities"


@dataclass(frozen=True)
class Attribute:
    keyword: str
    level: Level
    kind: Kind
    column: Any = None


def _a(keyword: str, level: Level, kind: Kind, column: Any = None) -> Attribute:
    return Attribute(keyword, level, kind, column)


P, ST, SE, IM = Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE
ATTRIBUTES: dict[str, Attribute] = {
    a.keyword: a
    for a in (
        _a("PatientID", P, Kind.TEXT, ImagingPatient.dicom_patient_id),
        _a("PatientName", P, Kind.NAME, ImagingPatient.name),
        _a("PatientBirthDate", P, Kind.DATE, ImagingPatient.birth_date),
        _a("PatientSex", P, Kind.TEXT, ImagingPatient.sex),
        _a("NumberOfPatientRelatedStudies", P, Kind.COUNT),
        _a("StudyInstanceUID", ST, Kind.UID, ImagingStudy.study_uid),
        _a("StudyDate", ST, Kind.DATE, ImagingStudy.study_date),
        _a("StudyTime", ST, Kind.TIME, ImagingStudy.study_time),
        _a("AccessionNumber", ST, Kind.TEXT, ImagingStudy.accession_number),
        _a("StudyID", ST, Kind.TEXT, ImagingStudy.study_id),
        _a("StudyDescription", ST, Kind.TEXT, ImagingStudy.description),
        _a("ReferringPhysicianName", ST, Kind.NAME, ImagingStudy.referring_physician),
        _a("ModalitiesInStudy", ST, Kind.MODALITIES, ImagingStudy.modalities),
        _a("NumberOfStudyRelatedSeries", ST, Kind.COUNT, ImagingStudy.num_series),
        _a("NumberOfStudyRelatedInstances", ST, Kind.COUNT, ImagingStudy.num_instances),
        _a("SeriesInstanceUID", SE, Kind.UID, ImagingSeries.series_uid),
        _a("Modality", SE, Kind.TEXT, ImagingSeries.modality),
        _a("SeriesNumber", SE, Kind.NUMBER, ImagingSeries.series_number),
        _a("SeriesDescription", SE, Kind.TEXT, ImagingSeries.description),
        _a("BodyPartExamined", SE, Kind.TEXT, ImagingSeries.body_part),
        _a("SeriesDate", SE, Kind.DATE, ImagingSeries.series_date),
        _a("SeriesTime", SE, Kind.TIME, ImagingSeries.series_time),
        _a("NumberOfSeriesRelatedInstances", SE, Kind.COUNT, ImagingSeries.num_instances),
        _a("SOPInstanceUID", IM, Kind.UID, ImagingInstance.sop_uid),
        _a("SOPClassUID", IM, Kind.UID, ImagingInstance.sop_class_uid),
        _a("InstanceNumber", IM, Kind.NUMBER, ImagingInstance.instance_number),
        _a("Rows", IM, Kind.NUMBER, ImagingInstance.rows),
        _a("Columns", IM, Kind.NUMBER, ImagingInstance.columns),
        _a("NumberOfFrames", IM, Kind.NUMBER, ImagingInstance.frames),
        _a("AvailableTransferSyntaxUID", IM, Kind.UID, ImagingInstance.transfer_syntax),
    )
}

DEFAULT_RETURN: dict[Level, tuple[str, ...]] = {
    P: ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"),
    ST: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "StudyDescription",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    SE: (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "NumberOfSeriesRelatedInstances",
    ),
    IM: (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "NumberOfFrames",
    ),
}


def _like(value: str) -> str:
    escaped = (
        value.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    )
    return escaped.replace("*", "%").replace("?", "_")


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _text(column: Any, value: str, *, fold: bool) -> ColumnElement[bool]:
    target = func.lower(column) if fold else column
    value = value.lower() if fold else value
    if _has_wildcard(value):
        return target.like(_like(value), escape=ESCAPE)
    return target == value


def _range(column: Any, value: str, kind: Kind) -> ColumnElement[bool]:
    low, _, high = value.partition("-")
    low, high = low.strip(), high.strip()
    digits = (low + high).replace(".", "")
    if (not low and not high) or not digits.isdigit():
        raise QueryError(f"bad {kind} range {value!r}")
    clauses = [column != ""]
    if low:
        clauses.append(column >= low)
    if high:
        clauses.append(column <= high + "~")  # inclusive at the precision given
    return and_(*clauses)


def condition(attribute: Attribute, value: str) -> ColumnElement[bool] | None:
    """The SQL condition for one key, or None for universal matching."""
    value = value.strip()
    if not value or value == "*" or attribute.kind is Kind.COUNT:
        return None
    column, kind = attribute.column, attribute.kind
    if kind is Kind.MODALITIES:
        wanted = [v.strip() for v in value.split("\\") if v.strip()]
        return exists().where(
            ImagingSeries.study_id == ImagingStudy.id,
            or_(*(_text(ImagingSeries.modality, v, fold=False) for v in wanted)),
        )
    parts = [v.strip() for v in value.split("\\")]
    if kind is Kind.UID:
        if any(_has_wildcard(p) for p in parts):
            return or_(*(_text(column, p, fold=False) for p in parts))
        return column.in_(parts) if len(parts) > 1 else column == parts[0]
    if kind in (Kind.DATE, Kind.TIME):
        return or_(*(_range(column, p, kind) if "-" in p else column == p for p in parts))
    if kind is Kind.NUMBER:
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise QueryError(f"{attribute.keyword} must be a number, not {value!r}") from None
        return column.in_(numbers)
    return or_(*(_text(column, p, fold=kind is Kind.NAME) for p in parts))


BASE: dict[Level, Any] = {
    P: ImagingPatient,
    ST: ImagingStudy,
    SE: ImagingSeries,
    IM: ImagingInstance,
}


def _count_studies() -> Any:
    return (
        select(func.count(ImagingStudy.id))
        .where(ImagingStudy.imaging_patient_id == ImagingPatient.id)
        .correlate(ImagingPatient)
        .scalar_subquery()
    )


def select_for(
    level: Level,
    keys: Mapping[str, str],
    *,
    study_scope: ColumnElement[bool] | None = None,
    patient_scope: ColumnElement[bool] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[Select[Any], list[str]]:
    """The query of ``level`` for ``keys`` (keyword -> value) and the keywords it returns.

    Keys below ``level`` are ignored (they are returned empty); unknown keywords likewise.
    """
    returned = list(dict.fromkeys([*DEFAULT_RETURN[level], *keys]))
    columns: list[Any] = []
    names: list[str] = []
    for keyword in returned:
        attribute = ATTRIBUTES.get(keyword)
        if attribute is None or attribute.level.depth > level.depth:
            continue
        if keyword == "NumberOfPatientRelatedStudies":
            columns.append(_count_studies().label(keyword))
        else:
            columns.append(attribute.column.label(keyword))
        names.append(keyword)
    query = select(*columns)
    if level is P:
        query = query.select_from(ImagingPatient)
    else:
        query = query.select_from(BASE[level])
        if level.depth >= IM.depth:
            query = query.join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
        if level.depth >= SE.depth:
            query = query.join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
        query = query.join(ImagingPatient, ImagingPatient.id == ImagingStudy.imaging_patient_id)
    for keyword, value in keys.items():
        attribute = ATTRIBUTES.get(keyword)
        if attribute is None or attribute.level.depth > level.depth:
            continue
        clause = condition(attribute, value)
        if clause is not None:
            query = query.where(clause)
    if level is P:
        if patient_scope is not None:
            query = query.where(patient_scope)
    elif study_scope is not None:
        query = query.where(study_scope)
    order: InstrumentedAttribute[Any] = BASE[level].id
    query = query.order_by(order).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return query.where(true()), names


def values_of(row: Any, names: list[str]) -> dict[str, Any]:
    """One result row as DICOM keyword -> value (None for no value)."""
    return {
        name: (None if value in ("", None) else value)
        for name, value in zip(names, row, strict=True)
    }
