"""`telecenter serve --demo` as a user runs it: starts, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited early: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # loopback only
                return json.loads(r.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_demo_and_graceful_shutdown(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--demo",
            "--data-dir",
            str(tmp_path / "var"),
            "--port",
            str(port),
            "--dicom-port",
            "0",
            "--mllp-port",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        assert health["status"] == "ok"
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            data=json.dumps({"username": "dr-village", "password": "demo-password"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as r:
            assert json.loads(r.read())["user"]["institution_name"] == "刘家村卫生室"
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        assert (tmp_path / "var" / "telecenter.db").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
