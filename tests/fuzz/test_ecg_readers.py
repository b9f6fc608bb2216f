"""Issue 18.2: mutated ECG files of every format, read directly and uploaded through the API.

Each mutation either reads or raises :class:`ecg.EcgFormatError` (nothing else, never a hang:
each example is bounded in time), and the upload API answers 2xx or 4xx, never a 5xx, storing
nothing (no recording, no request, no held upload, no file) when it refuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given

from ecg import EcgFormatError, read_ecg
from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient
from tests.fuzz.ecg_files import CSV_FIELDS, CSV_PROFILE, Sample, mutated, mutations, samples
from tests.fuzz.hostile import bounded, on_loop
from web.settings import Settings

READ_EXAMPLES = 60
UPLOAD_EXAMPLES = 8
READ_TIMEOUT_S = 10.0
LIMITS = {"max_duration_s": 48 * 3600.0, "max_expanded_bytes": 64 << 20}
FORMATS = ["scp", "dicom", "aecg", "wfdb-zip", "csv"]


def sample_of(fmt: str) -> Sample:
    return next(s for s in samples() if s.fmt == fmt)


def read_bounded(data: bytes, filename: str) -> BaseException | None:
    """Read ``data`` in a daemon thread; what it raised (None if it read). Fails on a hang."""
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_ecg(data, filename, CSV_PROFILE, **LIMITS)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(READ_TIMEOUT_S)
    assert outcome, f"reading a mutated {filename} did not end within {READ_TIMEOUT_S} s"
    return outcome[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_valid_sample_reads(fmt: str) -> None:
    sample = sample_of(fmt)
    assert read_bounded(sample.data, sample.filename) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_mutated_file_reads_or_raises_the_ecg_error(fmt: str) -> None:
    sample = sample_of(fmt)

    @bounded(READ_EXAMPLES)
    @given(changes=mutations)
    def fuzz(changes: list[tuple[str, float, int]]) -> None:
        raised = read_bounded(mutated(sample.data, changes), sample.filename)
        if raised is not None and not isinstance(raised, EcgFormatError):
            raise AssertionError(f"{type(raised).__name__}: {raised}") from raised

    fuzz()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "ecg"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def ecg_rows(api: Api) -> tuple[int, int]:
    from sqlalchemy import func, select

    from consult.models import DiagnosticRequest
    from ecg.store import EcgRecording

    async with api.center.sessions() as session:
        recordings = await session.scalar(select(func.count()).select_from(EcgRecording))
        requests = await session.scalar(select(func.count()).select_from(DiagnosticRequest))
        return int(recordings or 0), int(requests or 0)


async def upload(user: ApiUser, sample: Sample, data: bytes, patient_id: int) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("patient_id", str(patient_id))
    if sample.fmt == "csv":
        for key, value in CSV_FIELDS.items():
            form.add_field(key, value)
    form.add_field("file", data, filename=sample.filename, content_type="application/octet-stream")
    async with user.client.post("/api/v1/ecgs", data=form, headers=user.headers) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_mutated_upload_is_never_a_500_and_a_refusal_stores_nothing(
    api: Api, settings: Settings, fmt: str
) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village, "心电")
    sample = sample_of(fmt)

    async def check(changes: list[tuple[str, float, int]]) -> None:
        before, files = await ecg_rows(api), stored_files(settings)
        status, body = await upload(village, sample, mutated(sample.data, changes), patient["id"])
        assert status < 500, (status, body)
        if status >= 400:
            assert isinstance(body["error"]["message"], str), body
            assert await ecg_rows(api) == before, body
            assert stored_files(settings) == files, body

    def run(submit: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        @bounded(UPLOAD_EXAMPLES)
        @given(changes=mutations)
        def fuzz(changes: list[tuple[str, float, int]]) -> None:
            submit(check(changes))

        fuzz()

    await on_loop(run)
    status, body = await upload(village, sample, sample.data, patient["id"])
    assert status == 201, body  # still served, the valid file still taken


def test_found_a_zip_whose_members_start_before_the_file_is_a_format_error() -> None:
    """Found by the fuzzer: one byte cut from the front of a zip made zipfile seek to -1."""
    sample = sample_of("wfdb-zip")
    with pytest.raises(EcgFormatError, match="zip archive is damaged"):
        read_ecg(sample.data[1:], sample.filename)


async def test_found_a_carriage_return_inside_a_csv_row_is_422(api: Api) -> None:
    """Found by the fuzzer: a lone CR inside a row raised csv.Error, a 500 on upload."""
    with pytest.raises(EcgFormatError, match="CSV: a row cannot be parsed"):
        read_ecg(b"1,2,3\n4,5\r,6\n", "x.csv", CSV_PROFILE)
    village = await api.login("dr-village")
    patient = await new_patient(village, "回车")
    status, body = await upload(village, sample_of("csv"), b"1,2,3\n4,5\r,6\n", patient["id"])
    assert status == 422, body
    assert body["error"]["message"].index("/") > 0, body
