"""Several nodes on one PostgreSQL and one Redis: C-STORE throughput with 1, 2 and 3 nodes beside
Orthanc, and event delivery latency across nodes beside delivery on the same node.

Run from the project root with the machine's PostgreSQL and Redis:
    .venv/bin/python bench/nodes.py [--count 300] [--events 200]

Ingest: the same generated CT set is sent with dcmtk's storescu over four associations, spread
round-robin over the nodes (each node with its default DICOM workers; all nodes on one shared data
directory and one database), and to Orthanc over four associations. Events: a clinic doctor on
node A sends requests; each one notifies the ECG readers, whose events WebSockets are open on
node A (same node) and node B (across Redis); the figure is the time from the HTTP request to the
event on each socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from dicom_ingest import ORTHANC_AET, free_port, generate, start_orthanc, store, wait_echo
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get(
    "TELECENTER_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TELECENTER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
OURS_AET = "TELECENTER"
PASSWORD = "demo-password"  # the demo's documented password


async def pg_admin(sql: str) -> None:
    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


class Nodes:
    """N ``telecenter serve`` processes on one fresh database, one Redis channel, one data dir."""

    def __init__(self, work: Path, count: int) -> None:
        self.work, self.count = work, count
        self.name = f"tc_bench_{uuid.uuid4().hex[:10]}"
        self.url = make_url(PG_URL).set(database=self.name).render_as_string(hide_password=False)
        self.channel = f"telecenter:bench:{uuid.uuid4().hex}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.http_ports: list[int] = []
        self.dicom_ports: list[int] = []

    def _start(self, index: int) -> None:
        http, dicom = free_port(), free_port()
        env = {
            **os.environ,
            "TELECENTER_DATABASE_URL": self.url,
            "TELECENTER_EVENTS_URL": REDIS_URL,
            "TELECENTER_EVENTS_CHANNEL": self.channel,
            "TELECENTER_LOG_LEVEL": "WARNING",
            "TELECENTER_ARGON2_MEMORY_KIB": "1024",
            "TELECENTER_ARGON2_TIME_COST": "1",
        }
        cmd = [
            sys.executable, "-m", "web.cli", "serve", "--data-dir", str(self.work / "shared"),
            "--port", str(http), "--dicom-port", str(dicom), "--mllp-port", "0",
            *(["--demo"] if index == 0 else []),
        ]  # fmt: skip
        log = (self.work / f"node-{index}.log").open("wb")
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        wait_echo(dicom, OURS_AET, proc, timeout=180)
        self.http_ports.append(http)
        self.dicom_ports.append(dicom)

    async def __aenter__(self) -> Nodes:
        self.work.mkdir(parents=True, exist_ok=True)
        await pg_admin(f'CREATE DATABASE "{self.name}"')
        for index in range(self.count):
            self._start(index)  # the first seeds the demo; the others find it
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def store_spread(ports: list[int], called: str, files: list[Path], parallel: int) -> float:
    """Four associations, each to the next node in turn; wall time of the whole set."""
    chunks = [files[i::parallel] for i in range(parallel)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "storescu",
                "-aet",
                "DEMO-CT",
                "-aec",
                called,
                "-pdu",
                "131072",
                "127.0.0.1",
                str(ports[i % len(ports)]),
                *map(str, chunk),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i, chunk in enumerate(chunks)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"storescu failed: {err.decode()[-400:]}")
    return time.perf_counter() - start


def orthanc_pass(work: Path, files: list[Path]) -> float:
    port = free_port()
    orthanc = start_orthanc(work, port)
    try:
        return store(port, ORTHANC_AET, files, 4)
    finally:
        orthanc.terminate()
        orthanc.wait(30)


async def ingest(work: Path, count: int) -> None:
    print(f"C-STORE, {count} CT instances of 0.5 MB, 4 associations (instances/s)")
    print("| setup | ours | Orthanc | ratio |")
    print("|---|---:|---:|---:|")
    for nodes in (1, 2, 3):
        sets = [generate(work / f"set-{nodes}-{s}", count, 512, f"{nodes}{s}", 50) for s in "ab"]
        await asyncio.to_thread(subprocess.run, ["sync"], check=False)
        async with Nodes(work / f"nodes-{nodes}", nodes) as cluster:
            ours = count / await asyncio.to_thread(
                store_spread, cluster.dicom_ports, OURS_AET, sets[0], 4
            )
        theirs = count / await asyncio.to_thread(orthanc_pass, work / f"orthanc-{nodes}", sets[1])
        print(f"| {nodes} node{'s' if nodes > 1 else ''} | {ours:.1f} | {theirs:.1f} | "
              f"{ours / theirs:.2f} |")  # fmt: skip


async def _login(http: aiohttp.ClientSession, port: int, user: str) -> str:
    async with http.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": user, "password": PASSWORD}
    ) as r:
        return str((await r.json())["token"])


async def _received(ws: aiohttp.ClientWebSocketResponse, request_id: int) -> float:
    while True:
        event = json.loads((await ws.receive(timeout=10)).data)
        if event.get("type") == "request.received" and event.get("request_id") == request_id:
            return time.perf_counter()


async def events(work: Path, count: int) -> None:
    async with Nodes(work / "events", 2) as cluster, aiohttp.ClientSession() as http:
        a, b = cluster.http_ports
        village = await _login(http, a, "dr-village")
        reader = await _login(http, a, "ecg-reader")
        auth = {"Authorization": f"Bearer {village}"}
        sockets = [
            await http.ws_connect(f"http://127.0.0.1:{port}/api/v1/events?access_token={reader}")
            for port in (a, b)
        ]
        for ws in sockets:
            await ws.receive(timeout=10)  # hello
        async with http.get(f"http://127.0.0.1:{a}/api/v1/patients", headers=auth) as r:
            patient = (await r.json())[0]["id"]
        same, across = [], []
        for _ in range(count):
            start = time.perf_counter()
            async with http.post(
                f"http://127.0.0.1:{a}/api/v1/requests",
                json={"patient_id": patient, "kind": "ecg_read", "clinical_question": "bench"},
                headers=auth,
            ) as r:
                request_id = (await r.json())["id"]
            here, there = await asyncio.gather(*(_received(ws, request_id) for ws in sockets))
            same.append((here - start) * 1000)
            across.append((there - start) * 1000)
        for ws in sockets:
            await ws.close()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    print(f"\nEvent delivery, {count} events, HTTP request on node A to the events socket (ms)")
    print("| socket on | p50 | p99 |")
    print("|---|---:|---:|")
    print(f"| node A (same node) | {pct(same, 50):.1f} | {pct(same, 99):.1f} |")
    print(f"| node B (across Redis) | {pct(across, 50):.1f} | {pct(across, 99):.1f} |")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="instances per ingest pass")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tc-nodes-") as tmp:
        work = Path(tmp)
        await events(work, args.events)
        if not args.skip_ingest:
            await ingest(work, args.count)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
