"""The imaging index: devices, patients, studies, series, instances and the reconciliation list.

Only storage shape lives here. DICOM attributes are kept in their DICOM string forms (dates as
``YYYYMMDD``, times as ``HHMMSS.FFFFFF``) so that C-FIND and QIDO range matching is a string
comparison in SQL; the counters on studies and series are maintained at ingest, so that queries
at the study level touch one row per study.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from consult.db import Base, utcnow


class ImagingDevice(Base):
    """A remote DICOM application entity registered by an administrator."""

    __tablename__ = "imaging_device"

    id: Mapped[int] = mapped_column(primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=104)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    operations: Mapped[str] = mapped_column(String(64), default="store,find")
    """Comma-separated :class:`imaging.devices.Operation` values."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImagingPatient(Base):
    """A patient as the sending institution's devices name it (PatientID is theirs)."""

    __tablename__ = "imaging_patient"
    __table_args__ = (UniqueConstraint("institution_id", "dicom_patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    dicom_patient_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(324), default="", index=True)
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)


class ImagingStudy(Base):
    __tablename__ = "imaging_study"
    __table_args__ = (Index("ix_imaging_study_institution", "institution_id", "study_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    imaging_patient_id: Mapped[int] = mapped_column(ForeignKey("imaging_patient.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("diagnostic_request.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("imaging_device.id"))
    study_date: Mapped[str] = mapped_column(String(8), default="", index=True)
    study_time: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(16), default="", index=True)
    study_id: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(64), default="")
    referring_physician: Mapped[str] = mapped_column(String(324), default="")
    modalities: Mapped[str] = mapped_column(String(64), default="")
    """The distinct modalities of the study's series, backslash-separated."""
    num_series: Mapped[int] = mapped_column(Integer, default=0)
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImagingSeries(Base):
    __tablename__ = "imaging_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("imaging_study.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="")
    series_number: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(64), default="")
    body_part: Mapped[str] = mapped_column(String(16), default="")
    series_date: Mapped[str] = mapped_column(String(8), default="")
    series_time: Mapped[str] = mapped_column(String(16), default="")
    num_instances: Mapped[int] = mapped_column(Integer, default=0)


class ImagingInstance(Base):
    __tablename__ = "imaging_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("imaging_series.id"), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    transfer_syntax: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))
    """Relative to the archive root; built from checked UIDs only."""
    size: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImagingReconciliation(Base):
    """A study that could not be matched to a patient, waiting for a person to assign it."""

    __tablename__ = "imaging_reconciliation"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("imaging_study.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(200))
    reason_code: Mapped[str] = mapped_column(String(32), default="", server_default="")
    """A :class:`consult.identity.Reason` value (empty on rows from before it existed)."""
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"))


SLOT_HELD = "station_aet != '' AND status != 'DISCONTINUED'"
"""The steps that hold their station slot (see migration ``slot14``)."""


class WorklistStep(Base):
    """A scheduled procedure step of an imaging request, offered on the modality worklist.

    The StudyInstanceUID is assigned here, so that the study the modality sends back links to
    the request without anyone typing the accession number."""

    __tablename__ = "worklist_step"
    __table_args__ = (
        Index("ix_worklist_step_scope", "institution_id", "status", "start_date"),
        # -- no double booking: one live step a station slot (a discontinued one frees it) --
        Index(
            "uq_worklist_step_slot",
            "station_aet",
            "start_date",
            "start_time",
            unique=True,
            sqlite_where=text(SLOT_HELD),
            postgresql_where=text(SLOT_HELD),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_request.id"), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    step_id: Mapped[str] = mapped_column(String(16), unique=True)
    accession: Mapped[str] = mapped_column(String(16), index=True)
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[str] = mapped_column(String(16))
    station_aet: Mapped[str] = mapped_column(String(16), default="")
    start_date: Mapped[str] = mapped_column(String(8))
    """``YYYYMMDD`` (DICOM DA: range matching is a string comparison)."""
    start_time: Mapped[str] = mapped_column(String(6))
    description: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="SCHEDULED")
    """:class:`imaging.worklist.StepStatus`."""
    mpps_uid: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The Modality Performed Procedure Step the modality created for it (N-CREATE)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
