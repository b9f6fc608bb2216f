"""Load: N concurrent clinic clients against one ``telecenter serve`` for a fixed time.

Run from the project root:
    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--database-url URL]

It starts the real server (``telecenter serve --demo``, production settings: argon2 at its
defaults, the ECG process pool, SQLite in a temporary data directory unless ``--database-url``)
and runs the clients in this process on one event loop, each with its own HTTP session. A client
is a clinic doctor at a workstation (village and township doctors in turn, each with an account
and a patient of its own, both made before the clock starts) and repeats, until the time is up:

1. sign in (``POST /api/v1/auth/login``),
2. open the events socket (``/api/v1/events``) until its ``hello``,
3. the clinic's worklist (``GET /api/v1/requests?open=true``, the clinic's open requests),
4. upload an ECG (``POST /api/v1/ecgs``, a 10 s 12-lead WFDB zip; a different file each time
   for the same patient, so every upload is stored and analysed, none a duplicate),

then closes the socket. Any answer other than the expected status, a socket that does not say
hello, or a transport error is an error. It prints p50 / p99 / max per operation, the count and
the errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ecg_center.files import normal_zip  # noqa: E402

PASSWORD = "demo-password"  # the demo's documented password
CLINIC_USERS = ("dr-village", "dr-township")
FILES = 24
OPERATIONS = ("login", "events socket", "worklist", "ECG upload")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TELECENTER_LOG_LEVEL": "WARNING"}
    if database_url:
        env["TELECENTER_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "web.cli", "serve", "--demo", "--data-dir", str(data_dir)]
    command += ["--port", str(port), "--dicom-port", "0", "--mllp-port", "0"]
    log = (data_dir.parent / "serve.log").open("wb")
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: see {data_dir.parent / 'serve.log'}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):  # loopback only
                return proc, base
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become healthy")


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    errors: dict[str, int] = field(default_factory=lambda: {op: 0 for op in OPERATIONS})
    examples: list[str] = field(default_factory=list)

    def failed(self, op: str, what: str) -> None:
        self.errors[op] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{op}: {what}")


@dataclass
class Client:
    number: int
    base: str
    files: list[bytes]
    results: Results
    http: aiohttp.ClientSession
    patient_id: int = 0
    uploads: int = 0

    @property
    def username(self) -> str:
        return f"load-doctor-{self.number}"

    async def login(self) -> dict[str, str] | None:
        body = {"username": self.username, "password": PASSWORD}
        async with self.http.post(self.base + "/api/v1/auth/login", json=body) as r:
            answer = await r.json()
            if r.status != 200:
                self.results.failed("login", f"{r.status} {str(answer)[:200]}")
                return None
        return {"Authorization": f"Bearer {answer['token']}"}

    async def register_patient(self) -> None:
        auth = await self.login()
        assert auth is not None, self.results.examples
        patient = {
            "name": f"压测患者{self.number}",
            "sex": "F" if self.number % 2 else "M",
            "birth_date": "1960-01-01",
            "resident_id": "",
        }
        async with self.http.post(self.base + "/api/v1/patients", json=patient, headers=auth) as r:
            assert r.status == 201, await r.text()
            self.patient_id = (await r.json())["id"]

    async def timed(self, op: str, step: Coroutine[object, object, bool]) -> bool:
        start = time.perf_counter()
        try:
            ok = await step
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.results.failed(op, repr(exc)[:200])
            return False
        if ok:
            self.results.times[op].append((time.perf_counter() - start) * 1000)
        return bool(ok)

    async def cycle(self) -> None:
        start = time.perf_counter()
        auth = await self.login()
        if auth is None:
            return
        self.results.times["login"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        try:
            ws = await self.http.ws_connect(self.base + "/api/v1/events", headers=auth)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.results.failed("events socket", repr(exc)[:200])
            return
        try:
            hello = await ws.receive(timeout=30)
            if hello.type != aiohttp.WSMsgType.TEXT or json.loads(hello.data)["type"] != "hello":
                self.results.failed("events socket", f"no hello: {hello.type} {hello.data!r}")
                return
            self.results.times["events socket"].append((time.perf_counter() - start) * 1000)
            await self.timed("worklist", self.worklist(auth))
            await self.timed("ECG upload", self.upload(auth))
        finally:
            await ws.close()

    async def worklist(self, auth: dict[str, str]) -> bool:
        url = self.base + "/api/v1/requests?open=true"
        async with self.http.get(url, headers=auth) as r:
            body = await r.read()
            if r.status != 200:
                self.results.failed("worklist", f"{r.status} {body[:200]!r}")
                return False
        return True

    async def upload(self, auth: dict[str, str]) -> bool:
        data = self.files[(self.number + self.uploads) % len(self.files)]
        self.uploads += 1
        form = aiohttp.FormData()
        form.add_field("patient_id", str(self.patient_id))
        form.add_field("file", data, filename="ecg.zip", content_type="application/zip")
        async with self.http.post(self.base + "/api/v1/ecgs", data=form, headers=auth) as r:
            body = await r.read()
            if r.status != 201 or json.loads(body).get("duplicate"):
                self.results.failed("ECG upload", f"{r.status} {body[:200]!r}")
                return False
        return True


async def create_doctors(http: aiohttp.ClientSession, base: str, clients: int) -> None:
    """One account per workstation (not timed), village and township doctors in turn, made by
    the administrator: each clinic doctor signs in as themself, as in a real shift."""
    login = {"username": "admin", "password": PASSWORD}
    async with http.post(base + "/api/v1/auth/login", json=login) as r:
        auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
    async with http.get(base + "/api/v1/users", headers=auth) as r:
        users = {u["username"]: u for u in await r.json()}
    for number in range(clients):
        model = users[CLINIC_USERS[number % len(CLINIC_USERS)]]
        body = {
            "username": f"load-doctor-{number}",
            "password": PASSWORD,
            "display_name": f"压测医生{number}",
            "role": model["role"],
            "institution_id": model["institution_id"],
        }
        async with http.post(base + "/api/v1/users", json=body, headers=auth) as r:
            assert r.status == 201, await r.text()


async def run(base: str, clients: int, seconds: float) -> Results:
    files = [normal_zip(seed=1000 + i) for i in range(FILES)]
    results = Results()
    timeout = aiohttp.ClientTimeout(total=120)
    sessions = [aiohttp.ClientSession(timeout=timeout) for _ in range(clients)]
    try:
        await create_doctors(sessions[0], base, clients)
        crowd = [Client(i, base, files, results, s) for i, s in enumerate(sessions)]
        for client in crowd:  # not timed
            await client.register_patient()
        results.times["login"].clear()
        end = time.monotonic() + seconds

        async def work(client: Client) -> None:
            while time.monotonic() < end and client.uploads < len(files):
                await client.cycle()

        await asyncio.gather(*(work(c) for c in crowd))
    finally:
        for s in sessions:
            await s.close()
    return results


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(results: Results, clients: int, seconds: float, wall: float) -> None:
    print(f"{clients} clinic clients, {seconds:.0f} s (ran {wall:.1f} s)")
    print("| operation | count | p50 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for op in OPERATIONS:
        t = results.times[op]
        if t:
            print(
                f"| {op} | {len(t)} | {statistics.median(t):.0f} | {percentile(t, 99):.0f} | "
                f"{max(t):.0f} | {results.errors[op]} |"
            )
        else:
            print(f"| {op} | 0 | - | - | - | {results.errors[op]} |")
    print(f"errors: {sum(results.errors.values())}")
    for line in results.examples:
        print("  " + line)


def server_errors(log: Path, lines: int = 80) -> None:
    """The server's ERROR records with their tracebacks (the log goes with the data dir)."""
    text = log.read_text(errors="replace").splitlines()
    keep = [i for i, line in enumerate(text) if " ERROR " in line or "Traceback" in line]
    if keep:
        print("server log, first error:")
        print("\n".join(text[keep[0] : keep[0] + lines]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database-url", default="", help="default: SQLite in the data dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tc-load-") as tmp:
        proc, base = start_server(Path(tmp) / "var", args.database_url)
        try:
            start = time.monotonic()
            results = asyncio.run(run(base, args.clients, args.seconds))
            report(results, args.clients, args.seconds, time.monotonic() - start)
            if sum(results.errors.values()):
                server_errors(Path(tmp) / "serve.log")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
