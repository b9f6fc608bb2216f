"""Fixtures of the imaging tests: a real server with the DICOM node on a free loopback port,
generated CT datasets, and helpers that drive pynetdicom as the remote device (in a thread: the
node hands work to the test's event loop, which must stay free)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification
from sqlalchemy import select

from consult.models import Institution, Patient
from imaging.node import DicomNode
from tests.conftest import Api, Database, make_settings
from web.app import create_app
from web.imaging_wiring import ARCHIVE, NODE

DEVICE = "DEMO-CT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    api: Api
    port: int
    tmp_path: Path

    async def flush(self) -> None:
        """Wait for the index writer (a C-STORE is acknowledged once its file is durable)."""
        await self.api.client.server.app[ARCHIVE].flush()

    @property
    def dicom(self) -> DicomNode:
        return self.api.client.server.app[NODE]

    async def patients(self, institution: str = "th-dongcheng") -> list[Patient]:
        async with self.api.center.sessions() as session:
            rows = await session.scalars(
                select(Patient)
                .join(Institution, Institution.id == Patient.home_institution_id)
                .where(Institution.code == institution)
                .order_by(Patient.id)
            )
            return list(rows)


@contextlib.asynccontextmanager
async def running_node(
    database: Database, tmp_path: Path, workers: int, **overrides: Any
) -> AsyncIterator[Node]:
    settings = make_settings(
        tmp_path, database, dicom_port=free_port(), dicom_workers=workers, **overrides
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Node(Api(client), client.server.app[NODE].port, tmp_path)
    finally:
        await client.close()


@pytest.fixture(params=[2, 0], ids=["workers", "threads"])
async def node(
    request: pytest.FixtureRequest, seeded_database: Database, tmp_path: Path
) -> AsyncIterator[Node]:
    """The server with its DICOM node: two worker processes (the default on a 2-CPU box),
    and associations on threads of the server process."""
    async with running_node(seeded_database, tmp_path, request.param) as running:
        yield running


@pytest.fixture
async def worker_node(seeded_database: Database, tmp_path: Path) -> AsyncIterator[Node]:
    """The server with its DICOM node on two worker processes."""
    async with running_node(seeded_database, tmp_path, 2) as running:
        yield running


def make_ct(
    *,
    patient_id: str = "P0001",
    patient_name: str = "Zhang^San",
    study_uid: str | None = None,
    series_uid: str | None = None,
    accession: str = "",
    study_date: str = "20261120",
    study_time: str = "101500",
    modality: str = "CT",
    instance: int = 1,
    size: int = 64,
    description: str = "CT HEAD",
    birth_date: str = "19580312",
    sex: str = "M",
) -> Dataset:
    """A small, valid CT image (explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.AccessionNumber = accession
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.SeriesDate = study_date
    ds.StudyID = "1"
    ds.StudyDescription = description
    ds.ReferringPhysicianName = "Wang^Yi"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.SeriesDescription = "AXIAL"
    ds.InstanceNumber = instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    gradient = np.linspace(0, 2000, size * size, dtype=np.float64).reshape(size, size)
    ds.PixelData = gradient.astype(np.uint16).tobytes()
    return ds


def scu(aet: str = DEVICE, contexts: list[str] | None = None) -> AE:
    ae = AE(ae_title=aet)
    for context in contexts or [CTImageStorage, Verification]:
        ae.add_requested_context(context)
    return ae


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def store_all(port: int, datasets: list[Dataset], aet: str = DEVICE) -> list[int]:
    """C-STORE every dataset in one association; return the statuses."""
    ae = scu(aet, sorted({str(ds.SOPClassUID) for ds in datasets}))
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established, "association refused"
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()
