"""The node's association internals: P-DATA splitting, bad PDUs, idle associations, and the
directly encoded response command sets (checked against pynetdicom's own encoder)."""

from __future__ import annotations

import struct
import time
from io import BytesIO
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.dimse_messages import C_FIND_RSP, C_STORE_RSP
from pynetdicom.dimse_primitives import C_FIND, C_STORE
from pynetdicom.dsutils import decode, encode
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from imaging import commands
from imaging.find_response import to_dataset
from imaging.node_values import Level
from imaging.reactor import InvalidPDU, presentation_data_values
from tests.imaging.conftest import Node, in_thread, make_ct, scu, store_all


def _pdv(context_id: int, control: int, fragment: bytes) -> bytes:
    return struct.pack(">LBB", len(fragment) + 2, context_id, control) + fragment


def test_presentation_data_values_split_items() -> None:
    body = _pdv(1, 0x03, b"command") + _pdv(3, 0x00, b"data-1") + _pdv(3, 0x02, b"")
    assert presentation_data_values(body) == [
        [1, b"\x03command"],
        [3, b"\x00data-1"],
        [3, b"\x02"],
    ]
    assert presentation_data_values(b"") == []


@pytest.mark.parametrize(
    "body",
    [
        _pdv(1, 0x03, b"command")[:-1],  # item runs past the PDU
        struct.pack(">LB", 1, 1),  # item too short for a control header
        _pdv(1, 0x03, b"x") + b"\x00\x00",  # trailing bytes shorter than an item header
    ],
)
def test_presentation_data_values_refuse_bad_items(body: bytes) -> None:
    with pytest.raises(InvalidPDU):
        presentation_data_values(body)


def _send_malformed_pdata(port: int) -> tuple[bool, bool]:
    """Associate, then write a P-DATA-TF whose item overruns the PDU; report the outcome."""
    assoc = scu(contexts=[Verification]).associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    item = struct.pack(">LBB", 500, 1, 0x03) + b"\x00" * 10  # announces 500 bytes, has 11
    raw = assoc.dul.socket
    assert raw is not None and raw.socket is not None
    raw.socket.sendall(struct.pack(">BBL", 0x04, 0, len(item)) + item)
    deadline = time.monotonic() + 10
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.01)
    return assoc.is_aborted, assoc.is_established


async def test_malformed_pdata_aborts_that_association_only(node: Node) -> None:
    aborted, established = await in_thread(_send_malformed_pdata, node.port)
    assert aborted and not established
    study = generate_uid()
    datasets = [make_ct(study_uid=study, instance=i) for i in (1, 2)]
    assert await in_thread(store_all, node.port, datasets) == [0, 0]


def _idle_then_echo(port: int) -> list[int]:
    """Keep one association idle across several timer ticks, then use it and release it."""
    ae = scu(contexts=[Verification, CTImageStorage])
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    statuses = [int(assoc.send_c_echo().Status)]
    time.sleep(0.3)
    statuses.append(int(assoc.send_c_echo().Status))
    statuses.append(int(assoc.send_c_store(make_ct(instance=7)).Status))
    assoc.release()
    assert assoc.is_released
    return statuses


async def test_idle_association_still_serves_and_releases(node: Node) -> None:
    assert await in_thread(_idle_then_echo, node.port) == [0, 0, 0]


def _pynetdicom_command(primitive: Any) -> Dataset:
    message = (C_STORE_RSP if isinstance(primitive, C_STORE) else C_FIND_RSP)()
    message.primitive_to_message(primitive)
    return decode(BytesIO(encode(message.command_set, True, True)), True, True)


def _store_rsp(status: int) -> C_STORE:
    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = 7
    rsp.AffectedSOPClassUID = CTImageStorage
    rsp.AffectedSOPInstanceUID = generate_uid()
    rsp.Status = status
    return rsp


def _find_rsp(identifier: bytes | None) -> C_FIND:
    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = 3
    rsp.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    rsp.Status = 0xFF00 if identifier else 0x0000
    rsp.Identifier = BytesIO(identifier) if identifier else None
    return rsp


@pytest.mark.parametrize(
    "primitive",
    [
        _store_rsp(0x0000),
        _store_rsp(0xC000),
        _find_rsp(b"\x08\x00\x20\x00\x00\x00\x00\x00"),
        _find_rsp(None),
    ],
)
def test_response_commands_match_pynetdicom(primitive: Any) -> None:
    fast = commands.response_command(primitive)
    assert fast is not None
    ours = decode(BytesIO(fast), True, True)
    theirs = _pynetdicom_command(primitive)
    assert [(e.tag, e.value) for e in ours] == [(e.tag, e.value) for e in theirs]


def test_responses_with_more_elements_take_pynetdicom_path() -> None:
    rsp = _store_rsp(0xC000)
    rsp.ErrorComment = "cannot understand"
    assert commands.response_command(rsp) is None
    request = C_STORE()  # a request, not a response
    request.MessageID = 1
    assert commands.response_command(request) is None


def test_p_data_fragments_respect_the_peer_maximum() -> None:
    data = bytes(range(256)) * 10
    pdatas = commands.p_data(5, b"C" * 10, data, 1000)
    items = [p.presentation_data_value_list[0] for p in pdatas]
    assert all(cx == 5 and len(value) + 5 <= 1000 for cx, value in items)
    assert [value[0] for _, value in items] == [0x03, 0x00, 0x00, 0x02]
    assert b"".join(value[1:] for _, value in items[1:]) == data
    whole = commands.p_data(5, b"C" * 10, None, 0)
    assert [p.presentation_data_value_list for p in whole] == [[[5, b"\x03" + b"C" * 10]]]


@pytest.mark.parametrize("implicit", [True, False])
def test_find_identifier_written_raw_matches_pydicom(implicit: bool) -> None:
    values = {
        "StudyInstanceUID": "2.25.1001",
        "PatientName": "张^三",
        "StudyDate": "20200101",
        "ModalitiesInStudy": "CT\\MR",
        "NumberOfStudyRelatedInstances": 50,
    }
    fast = to_dataset(values, Level.STUDY, empty=["StudyDescription"], encoding=(implicit, True))
    slow = to_dataset(values, Level.STUDY, empty=["StudyDescription"])
    assert encode(fast, implicit, True) == encode(slow, implicit, True)
    back = decode(BytesIO(encode(fast, implicit, True)), implicit, True)
    assert back.PatientName == "张^三" and back.ModalitiesInStudy == ["CT", "MR"]
    assert back.StudyDescription == "" and back.NumberOfStudyRelatedInstances == 50
