"""Issue 19 items 8 and 13 (zip part): hostile zips are refused with a 4xx naming the problem."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_ecg_api import upload

HEADER = "r 1 250 {n}\nr.dat 16 200 16 0 0 0 0 I\n"


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return out.getvalue()


def _patched(data: bytes, offset_in_header: int, value: bytes) -> bytes:
    """Write ``value`` at the same offset of every local and central header."""
    out = bytearray(data)
    for magic, base in ((b"PK\x03\x04", 0), (b"PK\x01\x02", 2)):
        pos = out.find(magic)
        while pos >= 0:
            out[pos + base + offset_in_header : pos + base + offset_in_header + 2] = value
            pos = out.find(magic, pos + 4)
    return bytes(out)


def _record(n: int = 1000) -> dict[str, bytes]:
    return {"r.hea": HEADER.format(n=n).encode(), "r.dat": b"\0" * (2 * n)}


def _bad_crc() -> bytes:
    data = bytearray(_zip(_record(), zipfile.ZIP_STORED))
    start = data.find(b"\0" * 100)
    data[start + 10] = 1
    return bytes(data)


HOSTILE = {
    "over 48 h": _zip({"r.hea": HEADER.format(n=250 * 3600 * 49).encode(), "r.dat": b""}),
    "encrypted": _patched(_zip(_record()), 6, b"\x01\x00"),
    "method": _patched(_zip(_record()), 8, b"\x63\x00"),
    "crc": _bad_crc(),
    "truncated": _zip(_record())[:-40],
    "nested": _zip({"inner.zip": _zip(_record())}),
    "traversal": _zip({"../r.hea": _record()["r.hea"], "r.dat": b"\0" * 2000}),
    "absolute": _zip({"/etc/r.hea": _record()["r.hea"]}),
    "many": _zip({f"f{i}.dat": b"" for i in range(100)}),
}

WORDS = {
    "over 48 h": "48 h",
    "encrypted": "encrypted",
    "method": "compression method",
    "crc": "CRC",
    "truncated": "zip",
    "nested": "is itself a zip",
    "traversal": "relative path",
    "absolute": "relative path",
    "many": "at most",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_zip_is_refused_and_nothing_stored(api: Api, case: str) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    status, body = await upload(village, patient["id"], HOSTILE[case], "bomb.zip")
    assert 400 <= status < 500 and status != 404, (status, body)
    assert WORDS[case] in body["error"]["message"], body
    requests = (await village.get(f"/api/v1/requests?patient_id={patient['id']}")).ok()
    assert requests == []


async def test_a_valid_zipped_record_is_still_accepted(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    status, body = await upload(village, patient["id"], normal_zip(), "normal.zip")
    assert status == 201, body


async def test_a_zip_declaring_a_huge_member_is_413_before_reading(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    data = bytearray(_zip(_record()))
    central = data.find(b"PK\x01\x02", data.find(b"r.dat"))
    data[central + 24 : central + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size
    status, body = await upload(village, patient["id"], bytes(data), "bomb.zip")
    assert status == 413, body
    assert "MiB" in body["error"]["message"] and "解压" in body["error"]["message"]
    assert (await village.get(f"/api/v1/requests?patient_id={patient['id']}")).ok() == []
