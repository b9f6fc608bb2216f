"""Lab benchmark: HL7 ORU^R01 results per second through the MLLP listener into the database.

Run with ``.venv/bin/python bench/lab.py`` (SQLite in a temporary directory; PostgreSQL too when
``TELECENTER_TEST_DATABASE_URL`` is set). Each message carries a complete blood count (8 OBX) for
its own order; each is stored in one transaction and acknowledged before the next is sent on
that connection. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from consult import demo  # noqa: E402
from consult.center import Center  # noqa: E402
from consult.db import create_all, make_engine, make_session_factory  # noqa: E402
from consult.models import Patient, User  # noqa: E402
from consult.policy import PasswordHashing, Policy  # noqa: E402
from consult.principal import principal_for  # noqa: E402
from lab import orders, specimens  # noqa: E402
from lab.catalogue_data import CBC  # noqa: E402
from lab.hl7 import ack_code_of, build_oru  # noqa: E402
from lab.inbound import ResultsInbox  # noqa: E402
from lab.mllp import Deframer, MllpServer, frame  # noqa: E402

MESSAGES = int(os.environ.get("LAB_BENCH_MESSAGES", "400"))
CONNECTIONS = (1, 4)
VALUES = ("6.1", "4.8", "142", "42.0", "88", "29.5", "335", "210")


async def make_orders(center: Center, count: int) -> list[tuple[str, str]]:
    """``count`` CBC orders from the Xihe township health center, specimens collected: (placer
    number, the patient's PID-3)."""
    async with center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "dr-township"))
        assert user is not None
        doctor = await principal_for(session, user)
        patients = list(
            await session.scalars(
                select(Patient.id).where(Patient.home_institution_id == doctor.institution_id)
            )
        )
    placers = []
    async with center.work(doctor, client="bench") as work:
        for i in range(count):
            patient_id = patients[i % len(patients)]
            order = await orders.create(
                work, orders.NewOrder(patient_id=patient_id, tests=["58410-2"])
            )
            for specimen in (await orders.specimens_of(work, [order.id]))[order.id]:
                await specimens.collect(work, specimen.id, collected_at=None, collected_by="")
            placers.append((order.placer_number, str(patient_id)))
    return placers


async def sender(port: int, placers: list[tuple[str, str]], latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deframer, accepted = Deframer(), 0
    for placer, pid in placers:
        message = build_oru(
            placer,
            [(code, code, value, "") for code, value in zip(CBC, VALUES, strict=True)],
            control_id=uuid.uuid4().hex[:20],
            patient_id=pid,
        )
        start = time.perf_counter()
        writer.write(frame(message.encode()))
        await writer.drain()
        items: list[bytes | Exception] = []
        while not items:
            items = list(deframer.feed(await reader.read(65536)))
        latencies.append(time.perf_counter() - start)
        ack = items[0]
        assert isinstance(ack, bytes)
        accepted += ack_code_of(ack.decode())[0] == "AA"
    writer.close()
    await writer.wait_closed()
    return accepted


async def run_backend(name: str, url: str, schema: str) -> list[tuple[object, ...]]:
    engine = make_engine(url, schema=schema or None)
    await create_all(engine)
    center = Center(
        make_session_factory(engine), policy=Policy(password_hashing=PasswordHashing(1, 1024, 1))
    )
    await demo.seed(center)
    inbox = ResultsInbox(center)
    server = MllpServer(inbox.handle, reject=inbox.reject)
    await server.start("127.0.0.1", 0)
    rows: list[tuple[object, ...]] = []
    try:
        for connections in CONNECTIONS:
            placers = await make_orders(center, MESSAGES)
            chunks = [placers[i::connections] for i in range(connections)]
            latencies: list[float] = []
            start = time.perf_counter()
            accepted = await asyncio.gather(*(sender(server.port, c, latencies) for c in chunks))
            elapsed = time.perf_counter() - start
            latencies.sort()
            rows.append(
                (
                    name,
                    connections,
                    MESSAGES,
                    sum(accepted),
                    MESSAGES * len(CBC),
                    elapsed,
                    MESSAGES / elapsed,
                    MESSAGES * len(CBC) / elapsed,
                    statistics.median(latencies) * 1000,
                    latencies[int(len(latencies) * 0.95)] * 1000,
                )
            )
    finally:
        await server.stop()
        await engine.dispose()
    return rows


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await run_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", "")
    pg = os.environ.get("TELECENTER_TEST_DATABASE_URL", "")
    if pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(pg)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            rows += await run_backend("postgresql", pg, schema)
        finally:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()
    header = (
        "backend",
        "conns",
        "msgs",
        "AA",
        "results",
        "s",
        "msg/s",
        "results/s",
        "p50 ms",
        "p95 ms",
    )
    print("  ".join(f"{h:>10}" for h in header))
    for row in rows:
        print("  ".join(f"{v:>10.1f}" if isinstance(v, float) else f"{v!s:>10}" for v in row))


if __name__ == "__main__":
    asyncio.run(main())
