"""The node against dcmtk, a peer no one here wrote: echoscu, storescu, findscu, getscu, movescu."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.imaging.conftest import DEVICE, Node, free_port, make_ct

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        shutil.which("storescu") is None,
        reason="dcmtk is not installed (scripts/install-peers.sh installs it)",
    ),
]

SAMPLES = {  # pydicom's bundled test files, with the storescu option proposing their syntax
    "CT_small.dcm": "-xe",
    "MR_small.dcm": "-xe",
    "JPEG2000.dcm": "-xw",
    "SC_rgb_jpeg_dcmtk.dcm": "-xy",
    "MR_small_RLE.dcm": "-xr",
}


async def dcmtk(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(errors="replace")


def peer(node: Node, aet: str = DEVICE) -> list[str]:
    return ["-aet", aet, "-aec", "TELECENTER", "127.0.0.1", str(node.port)]


async def test_dcmtk_peer(node: Node) -> None:
    code, out = await dcmtk("echoscu", *peer(node))
    assert code == 0, out
    code, out = await dcmtk("echoscu", *peer(node, "STRANGER"))
    assert code != 0 and "Calling AE Title Not Recognized" in out, out

    files = [Path(get_testdata_file(name)) for name in SAMPLES]  # type: ignore[arg-type]
    study = make_ct(patient_id="DCMTK-1", patient_name="Wang^Jianguo")
    generated = node.tmp_path / "generated.dcm"
    study.save_as(generated, enforce_file_format=True)
    for (_, option), path in zip(SAMPLES.items(), files, strict=True):
        code, out = await dcmtk("storescu", option, *peer(node), str(path))
        assert code == 0, out
    code, out = await dcmtk("storescu", *peer(node), str(generated))
    assert code == 0, out
    # stored as received: same bytes after the file meta
    expected = {pydicom.dcmread(f).SOPInstanceUID for f in [*files, generated]}
    by_uid = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
        for p in (node.tmp_path / "var" / "dicom").rglob("*.dcm")
    }
    for source in files[2:4]:  # JPEG 2000 and JPEG pixel data kept as sent: no transcoding
        sent = pydicom.dcmread(source)
        kept = pydicom.dcmread(by_uid[sent.SOPInstanceUID])
        assert kept.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
        assert kept.PixelData == sent.PixelData, source.name
    stored = {
        pydicom.dcmread(p).SOPInstanceUID for p in (node.tmp_path / "var" / "dicom").rglob("*.dcm")
    }
    assert expected <= stored

    out_dir = node.tmp_path / "find"
    out_dir.mkdir()
    code, out = await dcmtk(
        "findscu",
        "-S",
        "-X",
        "-od",
        str(out_dir),
        *peer(node)[:4],
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "PatientName=Wang*",
        "-k",
        "StudyInstanceUID",
        "-k",
        "NumberOfStudyRelatedInstances",
        "127.0.0.1",
        str(node.port),
    )
    assert code == 0, out
    answers = [pydicom.dcmread(p) for p in out_dir.glob("*.dcm")]
    assert [a.StudyInstanceUID for a in answers] == [study.StudyInstanceUID]
    assert int(answers[0].NumberOfStudyRelatedInstances) == 1

    get_dir = node.tmp_path / "get"
    get_dir.mkdir()
    code, out = await dcmtk(
        "getscu",
        "-S",
        "-od",
        str(get_dir),
        *peer(node)[:4],
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={study.StudyInstanceUID}",
        "127.0.0.1",
        str(node.port),
    )
    assert code == 0, out
    assert [pydicom.dcmread(p).SOPInstanceUID for p in get_dir.iterdir()] == [study.SOPInstanceUID]

    move_port = free_port()
    admin = await node.api.login("admin")
    (
        await admin.post(
            "/api/v1/imaging/devices",
            {
                "ae_title": "MOVEDEST",
                "host": "127.0.0.1",
                "port": move_port,
                "institution": "th-dongcheng",
                "allow": ["store"],
            },
        )
    ).ok()
    move_dir = node.tmp_path / "move"
    move_dir.mkdir()
    code, out = await dcmtk(
        "movescu",
        "-S",
        "-od",
        str(move_dir),
        "--port",
        str(move_port),
        "-aem",
        "MOVEDEST",
        *peer(node)[:4],
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        f"StudyInstanceUID={study.StudyInstanceUID}",
        "127.0.0.1",
        str(node.port),
    )
    assert code == 0, out
    assert [pydicom.dcmread(p).SOPInstanceUID for p in move_dir.iterdir()] == [study.SOPInstanceUID]
