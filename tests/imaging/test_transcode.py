"""Retrieval in a transfer syntax the receiver accepts: an instance stored compressed (RLE, as
received) goes as stored to a receiver that takes RLE, decompressed (same SOP Instance UID, same
pixels) to one that takes only uncompressed syntaxes, and counts as a failed sub-operation for
one that takes neither (C-GET: a failed sub-operation; C-MOVE: no context with the
destination). C-GET and C-MOVE, pynetdicom as device and destination."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    MRImageStorage,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from imaging import transcode
from tests.imaging.conftest import DEVICE, Node, free_port, in_thread

Received = list[tuple[str, Dataset]]


def rle_mr() -> Dataset:
    return pydicom.dcmread(get_testdata_file("MR_small_RLE.dcm"))  # type: ignore[arg-type]


def store(port: int, ds: Dataset) -> int:
    ae = AE(ae_title=DEVICE)
    ae.add_requested_context(MRImageStorage, [RLELossless])
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    try:
        return int(assoc.send_c_store(ds).Status)
    finally:
        assoc.release()


def query(ds: Dataset) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ds.StudyInstanceUID
    return identifier


def keep(received: Received) -> Any:
    def on_store(event: Any) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        received.append((str(event.context.transfer_syntax), dataset))
        return 0

    return on_store


def get(port: int, ds: Dataset, syntax: str) -> tuple[int, Received]:
    received: Received = []
    ae = AE(ae_title=DEVICE)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(MRImageStorage, [syntax])
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title="TELECENTER",
        ext_neg=[build_role(MRImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, keep(received))],
    )
    assert assoc.is_established
    try:
        statuses = list(assoc.send_c_get(query(ds), StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    return int(statuses[-1][0].Status), received


def move(port: int, destination_port: int, ds: Dataset, syntax: str) -> tuple[int, Received]:
    received: Received = []
    viewer = AE(ae_title="VIEWER")
    viewer.add_supported_context(MRImageStorage, [syntax])
    server = viewer.start_server(
        ("127.0.0.1", destination_port),
        block=False,
        evt_handlers=[(evt.EVT_C_STORE, keep(received))],
    )
    try:
        ae = AE(ae_title=DEVICE)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
        assert assoc.is_established
        try:
            statuses = list(
                assoc.send_c_move(query(ds), "VIEWER", StudyRootQueryRetrieveInformationModelMove)
            )
        finally:
            assoc.release()
    finally:
        server.shutdown()
    return int(statuses[-1][0].Status), received


def assert_same_image(sent: Dataset, got: Dataset, syntax: str) -> None:
    assert str(got.file_meta.TransferSyntaxUID) == syntax
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert np.array_equal(got.pixel_array, sent.pixel_array)


async def test_get_and_move_fit_the_receivers_syntaxes(node: Node) -> None:
    original = rle_mr()
    assert await in_thread(store, node.port, rle_mr()) == 0

    status, received = await in_thread(get, node.port, original, RLELossless)
    assert status == 0 and len(received) == 1
    assert received[0][0] == RLELossless
    assert received[0][1].PixelData == original.PixelData  # as stored, not re-encoded

    status, received = await in_thread(get, node.port, original, ExplicitVRLittleEndian)
    assert status == 0 and len(received) == 1
    assert_same_image(original, received[0][1], ExplicitVRLittleEndian)

    destination = free_port()
    admin = await node.api.login("admin")
    device = {"ae_title": "VIEWER", "host": "127.0.0.1", "port": destination}
    body = {**device, "institution": "county", "allow": ["store"]}
    (await admin.post("/api/v1/imaging/devices", body)).ok()
    status, received = await in_thread(
        move, node.port, destination, original, ImplicitVRLittleEndian
    )
    assert status == 0 and len(received) == 1
    assert received[0][0] == ImplicitVRLittleEndian
    assert_same_image(original, received[0][1], ImplicitVRLittleEndian)

    status, received = await in_thread(move, node.port, destination, original, JPEG2000Lossless)
    assert status == 0xA801 and received == []  # the destination accepted no context
    status, received = await in_thread(get, node.port, original, JPEG2000Lossless)
    assert status == 0xA702 and received == []  # its sub-operation failed, and said so


def test_proposals_add_uncompressed_only_for_compressed_instances() -> None:
    assert transcode.proposals([ExplicitVRLittleEndian]) == [ExplicitVRLittleEndian]
    assert transcode.proposals([RLELossless, RLELossless]) == [
        RLELossless,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    ]
