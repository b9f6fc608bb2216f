"""MLLP flood: what a burst of connections with unterminated 1 MB frames costs the server.

Run with ``.venv/bin/python bench/mllp_flood.py [--telecenter PATH]``: starts ``telecenter serve
--demo`` (SQLite in a temporary directory; PATH picks another installation, e.g. an older
checkout, to compare), opens ``MLLP_FLOOD_CONNECTIONS`` (300) connections that each send the start
of a frame and 1 MB without an end block (each from its own loopback address, as a botnet would),
and prints the server's resident memory before and at its peak, how many connections the server
had not closed after a minute, and when it had closed the others. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.mllp import START  # noqa: E402

CONNECTIONS = int(os.environ.get("MLLP_FLOOD_CONNECTIONS", "300"))
PAYLOAD = START + b"MSH|" + b"x" * ((1 << 20) - 64)  # just under the default cap
WAIT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def start_server(telecenter: str, data: Path, http: int, mllp: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
        "TELECENTER_LOG_LEVEL": "ERROR",
    }
    command = [telecenter, "serve", "--demo", "--data-dir", str(data)]
    command += ["--port", str(http), "--dicom-port", "0", "--mllp-port", str(mllp)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{http}/healthz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


async def flooder(port: int, index: int, closed_at: list[float]) -> None:
    """One connection sending an unterminated 1 MB frame, until the server closes it."""
    source = f"127.0.{1 + index // 250}.{1 + index % 250}"
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(PAYLOAD)
    try:
        await writer.drain()
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass
    closed_at.append(time.monotonic())
    writer.transport.abort()


async def flood(pid: int, port: int) -> dict[str, float]:
    closed_at: list[float] = []
    before = memory_kib(pid)["VmRSS"]
    start = time.monotonic()
    tasks = [asyncio.create_task(flooder(port, i, closed_at)) for i in range(CONNECTIONS)]
    peak = before
    while not all(t.done() for t in tasks):
        peak = max(peak, memory_kib(pid)["VmRSS"])
        await asyncio.sleep(0.05)
        if time.monotonic() - start > WAIT_S:
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "rss_before_mb": before / 1024,
        "rss_peak_mb": peak / 1024,
        "connections": CONNECTIONS,
        "open_after_60s": CONNECTIONS - len(closed_at),
        "last_closed_s": (max(closed_at) - start) if closed_at else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--telecenter", default=str(ROOT / ".venv" / "bin" / "telecenter"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        http, mllp = free_port(), free_port()
        proc = start_server(args.telecenter, Path(tmp) / "var", http, mllp)
        try:
            figures = asyncio.run(flood(proc.pid, mllp))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("  ".join(f"{k:>14}" for k in figures))
    print(
        "  ".join(f"{v:>14.1f}" if isinstance(v, float) else f"{v:>14}" for v in figures.values())
    )


if __name__ == "__main__":
    main()
