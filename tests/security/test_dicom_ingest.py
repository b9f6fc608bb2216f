"""Issue 19, items 3, 9 and 14: instances that must not be stored, over C-STORE and STOW-RS.

Institution A (th-dongcheng, the ``DEMO-CT`` scanner) stores a study; institution B (th-xihe: a
scanner of its own registered here, and its township doctor over STOW-RS) then sends instances
reusing A's SOP Instance UID, Study Instance UID or Series Instance UID. Each is refused, A's
file bytes and index rows stay as they were, A still reads its study, and another device is
served meanwhile. Then truncated and inconsistent pixel data, UIDs longer than 64 characters,
and the race of two institutions for one new UID (exactly one wins), on each database.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pynetdicom import AE, _config
from pynetdicom.sop_class import CTImageStorage, Verification
from sqlalchemy import select

from consult.models import Institution
from imaging.header import split_part10
from imaging.index import ImagingInstance, ImagingSeries, ImagingStudy
from imaging.node_values import UidConflict
from imaging.pixels import PixelDataMismatch
from imaging.receiver import Origin, check_dataset
from tests.conftest import Api, Database
from tests.imaging.conftest import DEVICE, Node, in_thread, make_ct, running_node
from web.imaging_wiring import ARCHIVE

B_DEVICE = "XIHE-CT"
UID_CONFLICT, DIFFERENT_CONTENT = 0xC409, 0xC40A
DATASET_MISMATCH, CANNOT_UNDERSTAND = 0xA900, 0xC000

Answer = tuple[int, str]
"""A C-STORE status and its Error Comment."""


@pytest.fixture(params=[2, 0], ids=["workers", "threads"])
async def node(
    request: pytest.FixtureRequest, seeded_database: Database, tmp_path: Path
) -> AsyncIterator[Node]:
    """The server with its DICOM node, on worker processes and on threads (as tests/imaging)."""
    async with running_node(seeded_database, tmp_path, request.param) as running:
        yield running


@pytest.fixture
async def worker_node(seeded_database: Database, tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(seeded_database, tmp_path, 2) as running:
        yield running


def encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def echo(port: int) -> int:
    ae = AE(ae_title=DEVICE)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established
    try:
        return int(assoc.send_c_echo().Status)
    finally:
        assoc.release()


def store(port: int, aet: str, datasets: list[Any], echo_meanwhile: bool = False) -> list[Any]:
    """C-STORE ``datasets`` (data sets or file paths) on one association; with
    ``echo_meanwhile``, another device's C-ECHO is answered while it is still open (its status
    is the last item)."""
    ae = AE(ae_title=aet)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
    assert assoc.is_established, "association refused"
    answers: list[Any] = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            answers.append((int(status.Status), str(status.get("ErrorComment", ""))))
        if echo_meanwhile:
            answers.append(echo(port))
    finally:
        assoc.release()
    return answers


async def register_b(node: Node) -> None:
    admin = await node.api.login("admin")
    body = {
        "ae_title": B_DEVICE,
        "host": "127.0.0.1",
        "port": 104,
        "institution": "th-xihe",
        "allow": ["store", "find"],
    }
    (await admin.post("/api/v1/imaging/devices", body)).ok()


async def stow(api: Api, username: str, parts: list[bytes]) -> tuple[int, dict[str, Any]]:
    user = await api.login(username)
    boundary = "b0undary19"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
            for part in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    async with api.client.post(
        "/dicom-web/studies",
        data=body,
        headers={
            "Authorization": f"Bearer {user.token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
    ) as response:
        return response.status, await response.json(content_type=None)


def failures(result: dict[str, Any]) -> list[tuple[int, str]]:
    return [
        (item["00081197"]["Value"][0], item.get("00000902", {}).get("Value", [""])[0])
        for item in result.get("00081198", {}).get("Value", [])
    ]


async def snapshot(node: Node) -> dict[str, Any]:
    """Every index row of the imaging archive, and the hash of every file on disk."""
    async with node.api.center.sessions() as session:
        studies = (
            await session.execute(
                select(
                    ImagingStudy.study_uid,
                    ImagingStudy.institution_id,
                    ImagingStudy.patient_id,
                    ImagingStudy.request_id,
                    ImagingStudy.num_series,
                    ImagingStudy.num_instances,
                    ImagingStudy.updated_at,
                ).order_by(ImagingStudy.study_uid)
            )
        ).all()
        series = (
            await session.execute(
                select(
                    ImagingSeries.series_uid, ImagingSeries.study_id, ImagingSeries.num_instances
                ).order_by(ImagingSeries.series_uid)
            )
        ).all()
        instances = (
            await session.execute(
                select(
                    ImagingInstance.sop_uid,
                    ImagingInstance.series_id,
                    ImagingInstance.path,
                    ImagingInstance.size,
                    ImagingInstance.received_at,
                ).order_by(ImagingInstance.sop_uid)
            )
        ).all()
    root = node.tmp_path / "var" / "dicom"  # the archive: instance files, temporaries
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }
    return {"studies": studies, "series": series, "instances": instances, "files": files}


async def institution_id(node: Node, code: str) -> int:
    async with node.api.center.sessions() as session:
        found = await session.scalar(select(Institution.id).where(Institution.code == code))
        assert found is not None
        return int(found)


@pytest.fixture
async def study_a(node: Node) -> dict[str, Any]:
    """A's study, two instances, stored by its scanner; B's scanner registered."""
    patient = (await node.patients())[0]
    study, series = generate_uid(), generate_uid()
    datasets = [
        make_ct(
            patient_id=patient.resident_id or "", study_uid=study, series_uid=series, instance=i
        )
        for i in (1, 2)
    ]
    assert [s for s, _ in await in_thread(store, node.port, DEVICE, datasets)] == [0, 0]
    await register_b(node)
    await node.flush()
    return {"study": study, "series": series, "datasets": datasets}


async def test_other_institution_reusing_uids_over_c_store_is_refused(
    node: Node, study_a: dict[str, Any]
) -> None:
    a1 = study_a["datasets"][0]
    before = await snapshot(node)
    same_path = make_ct(patient_id="B-1", study_uid=study_a["study"], series_uid=generate_uid())
    same_path.SOPInstanceUID = same_path.file_meta.MediaStorageSOPInstanceUID = a1.SOPInstanceUID
    other_study = make_ct(patient_id="B-2")  # A's SOP Instance UID in a study of B's own
    other_study.SOPInstanceUID = other_study.file_meta.MediaStorageSOPInstanceUID = (
        a1.SOPInstanceUID
    )
    into_study = make_ct(patient_id="B-3", study_uid=study_a["study"])  # added to A's study
    into_series = make_ct(patient_id="B-4", series_uid=study_a["series"])  # A's series UID
    exact_copy = dcmread(io.BytesIO(encode(a1)))  # A's very instance, sent by B
    attacks = [same_path, other_study, into_study, into_series, exact_copy]
    answers = await in_thread(store, node.port, B_DEVICE, attacks, True)
    *refused, echoed = answers
    assert [status for status, _ in refused] == [UID_CONFLICT] * len(attacks), refused
    assert all("another institution" in comment for _, comment in refused), refused
    assert echoed == 0  # another device is served while the attack runs
    await node.flush()
    assert await snapshot(node) == before
    # A still reads its study, as sent
    radiologist = await node.api.login("radiologist")
    found = (
        await radiologist.get(f"/dicom-web/studies/{study_a['study']}/series/{study_a['series']}")
    ).ok()
    assert found
    async with node.api.client.get(
        f"/dicom-web/studies/{study_a['study']}/series/{study_a['series']}"
        f"/instances/{a1.SOPInstanceUID}",
        headers={**radiologist.headers, "Accept": 'multipart/related; type="application/dicom"'},
    ) as response:
        assert response.status == 200
        served = await response.read()
    assert bytes(a1.PixelData) in served  # A's pixel data, not B's


async def test_other_institution_reusing_uids_over_stow_is_refused(
    node: Node, study_a: dict[str, Any]
) -> None:
    a1 = study_a["datasets"][0]
    before = await snapshot(node)
    same_path = make_ct(patient_id="B-1", study_uid=study_a["study"])
    same_path.SOPInstanceUID = same_path.file_meta.MediaStorageSOPInstanceUID = a1.SOPInstanceUID
    into_study = make_ct(patient_id="B-3", study_uid=study_a["study"])
    into_series = make_ct(patient_id="B-4", series_uid=study_a["series"])
    status, result = await stow(
        node.api, "dr-township", [encode(ds) for ds in (same_path, into_study, into_series)]
    )
    assert status == 409, result
    reasons = failures(result)
    assert [code for code, _ in reasons] == [UID_CONFLICT] * 3
    assert all("belongs to another institution" in text for _, text in reasons), reasons
    assert await snapshot(node) == before
    assert await in_thread(echo, node.port) == 0


async def test_same_institution_resend_is_idempotent_other_content_refused(
    node: Node, study_a: dict[str, Any]
) -> None:
    a1 = study_a["datasets"][0]
    before = await snapshot(node)
    resent = dcmread(io.BytesIO(encode(a1)))
    changed = dcmread(io.BytesIO(encode(a1)))
    changed.PixelData = bytes(len(changed.PixelData))
    answers = await in_thread(store, node.port, DEVICE, [resent, changed])
    assert [status for status, _ in answers] == [0, DIFFERENT_CONTENT], answers
    await node.flush()
    after = await snapshot(node)
    assert after["files"] == before["files"] and after["series"] == before["series"]
    assert [row[:4] for row in after["instances"]] == [row[:4] for row in before["instances"]]
    assert [row[:6] for row in after["studies"]] == [row[:6] for row in before["studies"]]
    # the same over STOW-RS, from A's own duty doctor
    status, result = await stow(node.api, "duty-dongcheng", [encode(resent), encode(changed)])
    assert status == 202 and [c for c, _ in failures(result)] == [DIFFERENT_CONTENT], result
    assert (await snapshot(node))["files"] == before["files"]


async def test_truncated_and_inconsistent_pixel_data_refused(
    worker_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = worker_node
    before = await snapshot(node)
    whole = encode(make_ct())
    half = dcmread(io.BytesIO(whole[: len(whole) // 2]))  # pydicom reads it without a word
    too_big = make_ct()
    too_big.Rows = too_big.Columns = 128  # 64 x 64 pixels in the data
    frames = make_ct()
    frames.NumberOfFrames = 3
    answers = await in_thread(store, node.port, DEVICE, [half, too_big, frames])
    assert [status for status, _ in answers] == [DATASET_MISMATCH] * 3, answers
    assert "pixel data holds" in answers[0][1]
    # the half file as it is (its Pixel Data element claims more than follows)
    cut = node.tmp_path / "cut.dcm"
    cut.write_bytes(whole[: len(whole) // 2])
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    answers = await in_thread(store, node.port, DEVICE, [cut])
    assert [status for status, _ in answers] == [CANNOT_UNDERSTAND], answers
    status, result = await stow(node.api, "duty-dongcheng", [encode(too_big), cut.read_bytes()])
    assert status == 409 and [c for c, _ in failures(result)] == [
        DATASET_MISMATCH,
        CANNOT_UNDERSTAND,
    ], result
    await node.flush()
    assert await snapshot(node) == before  # no row, no file, no half file, no temporary
    assert await in_thread(echo, node.port) == 0


@pytest.mark.filterwarnings("ignore:.*VR UI")  # the test writes the invalid UIDs on purpose
async def test_uid_longer_than_64_refused_never_cut(
    worker_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = worker_node
    monkeypatch.setattr(pydicom_config.settings, "writing_validation_mode", pydicom_config.IGNORE)
    long_uid = "1.2.826.0.1.3680043.8.498." + "1" * 39  # 65 characters, digits and dots
    assert len(long_uid) == 65
    first = make_ct(study_uid=long_uid[:64])  # the study a cut UID would merge into
    assert [s for s, _ in await in_thread(store, node.port, DEVICE, [first])] == [0]
    await node.flush()
    before = await snapshot(node)
    long_study = make_ct(study_uid=long_uid)
    leading_zero = make_ct(study_uid="1.2.03.4")
    answers = await in_thread(store, node.port, DEVICE, [long_study, leading_zero])
    assert [status for status, _ in answers] == [CANNOT_UNDERSTAND] * 2, answers
    assert answers[0][1].startswith("Study Instance UID is longer than 64"), answers
    status, result = await stow(node.api, "duty-dongcheng", [encode(long_study)])
    assert status == 409 and [c for c, _ in failures(result)] == [CANNOT_UNDERSTAND], result
    await node.flush()
    assert await snapshot(node) == before


def _race(port: int, senders: dict[str, list[Dataset]]) -> dict[str, list[int]]:
    """Each sender's association opened, then every C-STORE released at once."""
    barrier = threading.Barrier(len(senders))
    results: dict[str, list[int]] = {}

    def run(aet: str, datasets: list[Dataset]) -> None:
        ae = AE(ae_title=aet)
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", port, ae_title="TELECENTER")
        assert assoc.is_established
        barrier.wait(10)
        try:
            results[aet] = [int(assoc.send_c_store(ds).Status) for ds in datasets]
        finally:
            assoc.release()

    threads = [threading.Thread(target=run, args=item) for item in senders.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


async def test_two_institutions_race_for_one_new_study(node: Node) -> None:
    await register_b(node)
    study = generate_uid()
    shared_sop = generate_uid()
    senders: dict[str, list[Dataset]] = {}
    for aet, patient in ((DEVICE, "A-RACE"), (B_DEVICE, "B-RACE")):
        datasets = [make_ct(patient_id=patient, study_uid=study, instance=i) for i in range(4)]
        datasets[0].SOPInstanceUID = datasets[0].file_meta.MediaStorageSOPInstanceUID = shared_sop
        senders[aet] = datasets
    results = await in_thread(_race, node.port, senders)
    winners = [aet for aet, statuses in results.items() if statuses == [0] * 4]
    assert len(winners) == 1, results
    (loser,) = set(results) - set(winners)
    assert results[loser] == [UID_CONFLICT] * 4, results
    await node.flush()
    owner = await institution_id(node, "th-dongcheng" if winners[0] == DEVICE else "th-xihe")
    async with node.api.center.sessions() as session:
        row = await session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study))
        assert row is not None and row.institution_id == owner and row.num_instances == 4
        path = await session.scalar(
            select(ImagingInstance.path).where(ImagingInstance.sop_uid == shared_sop)
        )
    assert path is not None
    stored = (node.tmp_path / "var").rglob(Path(path).name)
    assert [p.read_bytes()[-500:] for p in stored] == [encode(senders[winners[0]][0])[-500:]]


async def test_c_store_and_stow_race_for_one_sop_instance_uid(node: Node) -> None:
    """A's scanner and B's doctor send one new SOP Instance UID at the same moment."""
    await register_b(node)
    study, sop = generate_uid(), generate_uid()
    ours = make_ct(patient_id="A-RACE", study_uid=study)
    theirs = make_ct(patient_id="B-RACE", study_uid=study)
    for ds in (ours, theirs):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
    c_store, (stow_status, result) = await asyncio.gather(
        in_thread(store, node.port, DEVICE, [ours]), stow(node.api, "dr-township", [encode(theirs)])
    )
    outcomes = {c_store[0][0] == 0, stow_status == 200}
    assert outcomes == {True, False}, (c_store, stow_status, result)
    if stow_status != 200:
        assert [c for c, _ in failures(result)] == [UID_CONFLICT]
    else:
        assert c_store[0][0] == UID_CONFLICT
    await node.flush()
    async with node.api.center.sessions() as session:
        rows = (
            await session.execute(select(ImagingInstance.id).where(ImagingInstance.sop_uid == sop))
        ).all()
    assert len(rows) == 1


async def test_index_refuses_what_another_server_granted(worker_node: Node) -> None:
    """Two server processes on one database grant claims each on their own: the index writer
    checks the same rules in its transaction. B's instance, granted elsewhere and already
    answered, is set aside (kept, out of the archive); one waited for (STOW) is removed."""
    node = worker_node
    patient = (await node.patients())[0]
    study = generate_uid()
    a1 = make_ct(patient_id=patient.resident_id or "", study_uid=study)
    assert [s for s, _ in await in_thread(store, node.port, DEVICE, [a1])] == [0]
    await node.flush()
    before = await snapshot(node)
    archive = node.api.client.server.app[ARCHIVE]
    b = Origin(await institution_id(node, "th-xihe"), None, "dicom:OTHER-NODE")
    answered = archive.receiver.check_file(encode(make_ct(patient_id="B-9", study_uid=study)))
    waited = archive.receiver.check_file(encode(make_ct(patient_id="B-8", study_uid=study)))
    written = [archive.receiver.write(c) for c in (answered, waited)]  # as the other node did
    archive.index_nowait(written[0], b)
    with pytest.raises(UidConflict, match="another institution"):
        await archive.index(written[1], b)
    await node.flush()
    after = await snapshot(node)
    assert {k: v for k, v in after.items() if k != "files"} == {
        k: v for k, v in before.items() if k != "files"
    }
    assert {k: v for k, v in after["files"].items() if not k.startswith("quarantine/")} == (
        before["files"]
    )
    held = [k for k in after["files"] if k.startswith("quarantine/")]
    assert len(held) == 1 and held[0].startswith(f"quarantine/{answered.header.sop_uid}.")


def _encapsulated(fragments: list[bytes], frames: int) -> tuple[memoryview, str]:
    """An RLE data set (as its data set bytes and syntax) with ``fragments`` as pixel data."""
    ds = dcmread(get_testdata_file("SC_rgb_rle_2frame.dcm"))  # type: ignore[arg-type]
    ds.NumberOfFrames = frames
    ds.PixelData = encapsulate(fragments) if fragments else b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    if not fragments:  # the Basic Offset Table alone (pydicom writes the delimiter)
        ds["PixelData"].is_undefined_length = True
    data = encode(ds)
    syntax, offset = split_part10(data)
    return memoryview(data)[offset:], syntax


def test_encapsulated_pixel_data_needs_its_fragments() -> None:
    sample = dcmread(get_testdata_file("SC_rgb_rle_2frame.dcm"))  # type: ignore[arg-type]
    frames = [bytes(f) for f in generate_frames(sample.PixelData, number_of_frames=2)]
    check_dataset(*_encapsulated(frames, 2))  # as sent: accepted
    with pytest.raises(PixelDataMismatch, match="fragment"):
        check_dataset(*_encapsulated(frames, 3))  # a frame more than there are fragments
    with pytest.raises(PixelDataMismatch, match="without any fragment"):
        check_dataset(*_encapsulated([], 1))


@pytest.mark.parametrize("syntax", [DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_deflated_and_big_endian_pixel_data_checked(syntax: str) -> None:
    ds = make_ct()
    ds.file_meta.TransferSyntaxUID = syntax
    data = encode(ds)
    found, offset = split_part10(data)
    assert check_dataset(memoryview(data)[offset:], found).rows == 64
    ds.Rows = 128
    data = encode(ds)
    with pytest.raises(PixelDataMismatch, match="need 16384"):
        check_dataset(memoryview(data)[offset:], found)
