"""Input and output models of the imaging API."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from imaging.node_values import Operation


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DeviceIn(In):
    ae_title: str = Field(min_length=1, max_length=16)
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(104, ge=1, le=65535)
    institution: str = Field(min_length=1, max_length=32, description="institution code")
    allow: list[Operation] = Field(default_factory=lambda: [Operation.STORE, Operation.FIND])


class DeviceOut(Out):
    id: int
    ae_title: str
    host: str
    port: int
    institution_id: int
    institution_code: str
    operations: list[Operation]
    active: bool


class ReconciliationQuery(In):
    include_resolved: bool = False


class ResolveIn(In):
    patient_id: int = Field(ge=1)


class ScheduleIn(In):
    """Book (or move, while SCHEDULED) a request's procedure step at a station."""

    modality: str = Field(min_length=1, max_length=16, description="DICOM code: CT, DX, US, ...")
    start: AwareDatetime = Field(description="ISO 8601 with its zone, e.g. 2026-12-07T09:30+08:00")
    station_aet: str = Field(min_length=1, max_length=16, description="the modality's AE title")
    description: str = Field("", max_length=64)


class StationOut(Out):
    """A modality a request may be booked on (its AE title and where it stands)."""

    ae_title: str
    institution_id: int
    institution_code: str
    institution_name: str
    institution_name_en: str


class StepOut(Out):
    request_id: int
    step_id: str
    accession: str
    study_uid: str
    modality: str
    station_aet: str
    start: dt.datetime = Field(description="in the center's time zone")
    description: str
    status: str
