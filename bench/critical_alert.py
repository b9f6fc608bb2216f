"""Bench: from a STEMI ECG upload's HTTP request to the critical alert on the sending clinic's
events WebSocket (target < 1 s), on the real server over loopback.

    .venv/bin/python bench/critical_alert.py --runs 30
    .venv/bin/python bench/critical_alert.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

The server is the application as ``telecenter serve`` builds it (process pool for the analysis,
demo data, SQLite in a temporary directory unless ``--database-url`` is given). The village
doctor keeps ``/api/v1/events`` open; each run uploads a different synthetic 10 s 12-lead WFDB
record with anterior ST elevation (``tests/ecg_center/files.py``) for a new patient and times
``POST /api/v1/ecgs`` → ``critical.alert`` on the doctor's socket (and on the duty desk's).
The peer in the same run is the same upload of a normal ECG (no alert): request → response.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ecg_center.files import normal_zip, stemi_zip
from web.app import create_app
from web.settings import Settings

PASSWORD = "demo-password"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_server(data_dir: Path, database_url: str, worker_kind: str) -> web.AppRunner:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        port=0,
        dicom_port=0,
        mllp_port=0,
        demo=True,
        worker_kind=worker_kind,  # type: ignore[arg-type]
        log_level="WARNING",
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def port_of(runner: web.AppRunner) -> int:
    site = next(iter(runner.sites))
    server = site._server  # aiohttp exposes the bound socket only here
    assert server is not None
    return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    @classmethod
    async def login(cls, http: aiohttp.ClientSession, base: str, user: str) -> Client:
        body = {"username": user, "password": PASSWORD}
        async with http.post(base + "/api/v1/auth/login", json=body) as r:
            return cls(http, base, (await r.json())["token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def patient(self, name: str) -> int:
        body = {"name": name, "sex": "M", "birth_date": "1960-01-01"}
        async with self.http.post(
            self.base + "/api/v1/patients", json=body, headers=self.headers
        ) as r:
            pid = int((await r.json())["id"])
        consent = {"scope": "records"}
        url = f"{self.base}/api/v1/patients/{pid}/consents"
        async with self.http.post(url, json=consent, headers=self.headers) as r:
            await r.read()
        return pid

    async def upload(self, patient_id: int, data: bytes) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("patient_id", str(patient_id))
        form.add_field("file", data, filename="ecg.zip", content_type="application/octet-stream")
        async with self.http.post(self.base + "/api/v1/ecgs", data=form, headers=self.headers) as r:
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"upload answered {r.status}: {body}")
            return body  # type: ignore[no-any-return]

    async def events(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(
            self.base.replace("http", "ws") + f"/api/v1/events?access_token={self.token}"
        )
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello"
        return ws


async def next_alert(ws: aiohttp.ClientWebSocketResponse) -> float:
    """The time the next ``critical.alert`` arrives on ``ws``."""
    while True:
        msg = await ws.receive(timeout=30)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"events socket closed: {msg.type}")
        now = time.perf_counter()
        event = json.loads(msg.data)
        if event["type"] == "critical.alert":
            return now


async def run(args: argparse.Namespace) -> None:
    stemis = [stemi_zip(seed=100 + i) for i in range(args.runs + args.warmup)]
    normals = [normal_zip(seed=500 + i) for i in range(args.runs + args.warmup)]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        runner = await start_server(Path(tmp), url, args.worker_kind)
        base = f"http://127.0.0.1:{port_of(runner)}"
        try:
            async with aiohttp.ClientSession() as http:
                village = await Client.login(http, base, "dr-village")
                desk = await Client.login(http, base, "duty-desk")
                clinic_ws, desk_ws = await village.events(), await desk.events()
                alert_s, desk_s, response_s, normal_s, analysis_s = [], [], [], [], []
                for i in range(args.runs + args.warmup):
                    pid = await village.patient(f"bench{i}")
                    t0 = time.perf_counter()
                    clinic = asyncio.create_task(next_alert(clinic_ws))
                    duty = asyncio.create_task(next_alert(desk_ws))
                    body = await village.upload(pid, stemis[i])
                    t_resp = time.perf_counter()
                    t_alert, t_desk = await clinic, await duty
                    assert body["ecg"]["critical"], "the synthetic STEMI was not called critical"
                    pid = await village.patient(f"bench-normal{i}")
                    n0 = time.perf_counter()
                    await village.upload(pid, normals[i])
                    n1 = time.perf_counter()
                    if i < args.warmup:
                        continue
                    alert_s.append(t_alert - t0)
                    desk_s.append(t_desk - t0)
                    response_s.append(t_resp - t0)
                    analysis_s.append(float(body["ecg"]["analysis_ms"]) / 1000)
                    normal_s.append(n1 - n0)
                await clinic_ws.close()
                await desk_ws.close()
        finally:
            await runner.cleanup()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"critical alert latency, {args.runs} runs, {backend}, {args.worker_kind} workers")
    print("| measure | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for label, values in (
        ("STEMI upload request → alert on the clinic's socket", alert_s),
        ("STEMI upload request → alert on the duty desk's socket", desk_s),
        ("STEMI upload request → HTTP response", response_s),
        ("of which ECG analysis in the worker (server-reported)", analysis_s),
        ("peer: normal ECG upload request → HTTP response", normal_s),
    ):
        ms = [v * 1000 for v in values]
        print(f"| {label} | {pct(ms, 0.5):.0f} | {pct(ms, 0.95):.0f} | {max(ms):.0f} |")
    ratio = statistics.median(alert_s) / statistics.median(normal_s)
    print(f"alert p50 / normal upload p50: {ratio:.2f}")
    rest = [a - b for a, b in zip(alert_s, analysis_s, strict=True)]
    print(f"alert p50 minus analysis (storage, alerting, events): {pct(rest, 0.5) * 1000:.0f} ms")
    print(f"target p95 < 1000 ms: {'met' if pct(alert_s, 0.95) < 1.0 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--worker-kind", choices=("process", "thread"), default="process")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
