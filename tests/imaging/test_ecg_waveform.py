"""An ECG sent over DICOM C-STORE is stored as an instance and read by the ECG center."""

from __future__ import annotations

import asyncio

from pydicom import dcmread
from pydicom.data import get_testdata_file
from sqlalchemy import select

from consult.models import DiagnosticRequest
from ecg.store import EcgRecording
from tests.core.helpers import Events
from tests.imaging.conftest import Node, in_thread, store_all


async def test_ecg_waveform_over_dicom_reaches_the_ecg_center(node: Node) -> None:
    patient = (await node.patients())[0]
    ds = dcmread(get_testdata_file("waveform_ecg.dcm"))
    ds.PatientID = patient.record_numbers[0].number  # the township's own record number
    ds.AccessionNumber = ""
    reader = await node.api.login("ecg-reader")
    events = await Events.open(reader)
    statuses = await in_thread(store_all, node.port, [ds])
    assert statuses == [0x0000]
    received = await events.next("request.received", timeout=20)
    async with asyncio.timeout(20):
        while True:
            await node.flush()
            async with node.api.center.sessions() as session:
                recording = await session.scalar(
                    select(EcgRecording).where(EcgRecording.patient_id == patient.id)
                )
            if recording is not None:
                break
            await asyncio.sleep(0.2)
    assert recording.format == "dicom" and recording.source.startswith("dicom")
    assert len(recording.leads) == 12 and recording.fs == 1000.0
    conventional = recording.analysis["conventional"]  # as the device reports it
    assert abs(conventional["qrs_ms"] - 75) <= 10  # the Mortara machine measured 75 ms
    assert recording.analysis["intervals"]["qrs_ms"] >= conventional["qrs_ms"]  # IEC global
    async with node.api.center.sessions() as session:
        request = await session.get(DiagnosticRequest, recording.request_id)
    assert (
        request is not None
        and request.kind.value == "ecg_read"
        and request.id == received["request_id"]
    )
    studies = (await reader.get(f"/api/v1/ecgs/{recording.id}")).ok()
    assert studies["patient_id"] == patient.id
    await events.close()
