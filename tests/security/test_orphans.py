"""Issue 19 item 17: after kill -9 of the server, its pool workers, the forkserver and the
resource tracker exit too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from tests.core.test_serve import free_port, wait_healthy
from tests.ecg_center.files import normal_zip


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid``, from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _post(url: str, body: bytes, headers: dict[str, str]) -> dict:
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as r:  # loopback only
        return json.loads(r.read())


def _upload(base: str) -> None:
    login = _post(
        f"{base}/api/v1/auth/login",
        json.dumps({"username": "dr-village", "password": "demo-password"}).encode(),
        {"Content-Type": "application/json"},
    )
    auth = {"Authorization": f"Bearer {login['token']}"}
    patient = _post(
        f"{base}/api/v1/patients",
        json.dumps(
            {"name": "孤儿测试", "sex": "M", "birth_date": "1960-01-01", "resident_id": ""}
        ).encode(),
        {**auth, "Content-Type": "application/json"},
    )
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="patient_id"\r\n\r\n'
        f"{patient['id']}\r\n".encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.zip"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode(),
        normal_zip(),
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    _post(
        f"{base}/api/v1/ecgs",
        b"".join(parts),
        {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_kill_9_of_the_server_leaves_no_process_behind(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
    }
    command = [sys.executable, "-m", "web.cli", "serve", "--demo", "--data-dir"]
    command += [str(tmp_path / "var"), "--port", str(port), "--dicom-port", "0"]
    command += ["--mllp-port", "0"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        _upload(f"http://127.0.0.1:{port}")  # the analysis starts the forkserver and workers
        left = descendants(proc.pid)
        assert len(left) >= 3, left  # resource tracker, forkserver, at least one worker
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10.0
    while (still := {p for p in left if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not still, f"left behind: {still}"
