"""Half-written files a killed writer left behind are removed; files being written stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from consult.filestore import (
    FOREIGN_TEMP_AGE_S,
    TEMP_NAME,
    atomic_write,
    sweep_orphans,
    temp_path,
)
from tests.conftest import Database, make_settings
from web.app import create_app


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _this_host() -> str:
    match = TEMP_NAME.match(temp_path(Path("x")).name)
    assert match, "our own temporary names name their writer"
    return match["host"]


def _named(directory: Path, final: str, writer: str) -> Path:
    path = directory / f".{final}.{writer}~{'a' * 32}.tmp"
    path.write_bytes(b"half")
    return path


def test_sweep_removes_what_dead_writers_left_and_keeps_live_writers(tmp_path: Path) -> None:
    study = tmp_path / "dicom" / "ab"
    study.mkdir(parents=True)
    host = _this_host()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead = _named(study, "1.dcm", f"{host}~{_dead_pid()}")
        writing = _named(study, "2.dcm", f"{host}~{live.pid}")
        own = _named(study, "3.dcm", f"{host}~{os.getpid()}")
        other_host_now = _named(study, "4.dcm", f"elsewhere~{os.getpid()}")
        other_host_old = _named(study, "5.dcm", "elsewhere~1")
        unnamed_old = study / ".6.dcm.0123.tmp"
        unnamed_old.write_bytes(b"half")
        old = time.time() - FOREIGN_TEMP_AGE_S - 60
        for path in (other_host_old, unnamed_old):
            os.utime(path, (old, old))
        kept = study / "7.dcm"
        atomic_write(kept, b"whole")

        assert sweep_orphans(tmp_path) == 3
        remaining = {p.name for p in study.iterdir()}
        assert remaining == {writing.name, own.name, other_host_now.name, kept.name}
        assert dead.name not in remaining and kept.read_bytes() == b"whole"
    finally:
        live.kill()
        live.wait()


async def test_the_server_sweeps_its_data_directory_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}"))
    store = settings.data_dir / "dicom" / "12" / "1.2.3"
    store.mkdir(parents=True)
    host = _this_host()
    left = _named(store, "1.2.3.4.dcm", f"{host}~{_dead_pid()}")
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        assert not left.exists()
        async with client.get("/healthz") as r:
            assert r.status == 200
    finally:
        await client.close()
