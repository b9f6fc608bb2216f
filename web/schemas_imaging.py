"""Input and output models of the imaging API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
