"""Bench: the statistics of the community over 1,000,000 requests (target < 1 s on PostgreSQL).

    .venv/bin/python bench/statistics_query.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

A schema of its own is created and dropped after. The demo community is seeded, then ``--rows``
requests are spread over a year across its clinics, kinds and priorities in one
``INSERT ... SELECT generate_series`` (90 % completed at random durations, the rest open or
cancelled), with critical alerts on a fraction and a signed report on each completed one (a
third called positive, a third negative). The timed call is
:func:`consult.statistics.compute` as the API makes it: the whole community over the year, then
one township over a month.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consult import demo, migrate
from consult import statistics as stats_
from consult.center import Center
from consult.db import make_engine, make_session_factory
from consult.models import Institution
from consult.principal import Principal
from consult.vocab import InstitutionLevel, Role

FILL = """
INSERT INTO diagnostic_request (identifier, kind, priority, status, patient_id,
    requesting_institution_id, clinical_question, status_reason, critical, critical_reason,
    critical_reason_zh, details, created_at, updated_at, due_at, completed_at)
SELECT 'B' || g, k.kind, p.priority, s.status, CAST(:patient AS integer),
    c.ids[1 + g % array_length(c.ids, 1)],
    '', '', false, '', '', '{}', t.made, t.made, t.made + interval '120 minutes',
    CASE WHEN s.status = 'completed' THEN t.made + (random() * 300) * interval '1 minute' END
FROM generate_series(1, CAST(:rows AS integer)) AS g
CROSS JOIN LATERAL (SELECT CAST(:start AS timestamptz) + (g % 525600) * interval '1 minute'
    AS made) t
CROSS JOIN LATERAL (SELECT (ARRAY['ecg_read','imaging_read','lab_test','video_consult'])[1 + g % 4]
    AS kind) k
CROSS JOIN LATERAL (SELECT (ARRAY['routine','routine','urgent','stat'])[1 + (g / 4) % 4]
    AS priority) p
CROSS JOIN LATERAL (SELECT CASE WHEN g % 10 = 0 THEN 'requested' WHEN g % 50 = 1 THEN 'cancelled'
    ELSE 'completed' END AS status) s
CROSS JOIN (SELECT array_agg(id) AS ids FROM institution WHERE level <> 'county') c
"""
ALERTS = """
INSERT INTO critical_alert (source, source_id, code, request_id, patient_id, institution_id,
    finding, finding_zh, raised_at, level, acknowledged_at, method, notified_person, note)
SELECT 'ecg', r.id, 'STEMI', r.id, r.patient_id, r.requesting_institution_id, 'STEMI', '心梗',
    r.created_at, 0, r.created_at + (random() * 20) * interval '1 minute', 'in_app', '', ''
FROM diagnostic_request r WHERE r.id % 100 = 0
"""

REPORTS = """
INSERT INTO report (request_id, version, status, findings, impression, data, author_id,
    created_at, signed_by, signed_at, amendment_reason, content_hash)
SELECT r.id, 1, 'final', '', '', CAST(CASE WHEN r.id % 3 = 0 THEN '{"outcome": "positive"}'
    WHEN r.id % 3 = 1 THEN '{"outcome": "negative"}' ELSE '{}' END AS json),
    u.ids[1 + r.id % array_length(u.ids, 1)], r.completed_at,
    u.ids[1 + r.id % array_length(u.ids, 1)], r.completed_at, '', ''
FROM diagnostic_request r
CROSS JOIN (SELECT array_agg(id) AS ids FROM app_user WHERE role LIKE '%specialist') u
WHERE r.status = 'completed'
"""


async def prepare(url: str, schema: str, rows: int) -> None:
    engine = make_engine(url, schema=schema)
    try:
        await migrate.prepare(engine)
        center = Center(make_session_factory(engine))
        await demo.seed(center)
        async with engine.begin() as conn:
            patient = (await conn.execute(text("SELECT min(id) FROM patient"))).scalar_one()
            start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
            await conn.execute(text(FILL), {"patient": patient, "rows": rows, "start": start})
            await conn.execute(text(ALERTS))
            await conn.execute(text(REPORTS))
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def timed(url: str, schema: str, runs: int) -> None:
    engine = make_engine(url, schema=schema)
    center = Center(make_session_factory(engine))
    admin = Principal(0 + 1, "admin", "admin", Role.ADMIN, 1, InstitutionLevel.COUNTY)
    since, until = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        async with center.work() as work:
            township = await work.session.scalar(
                Institution.__table__.select()
                .with_only_columns(Institution.id)
                .where(Institution.level == InstitutionLevel.TOWNSHIP)
            )
        for label, args in (
            ("community, one year", (since, until, None)),
            ("one township, one month", (since, since + dt.timedelta(days=31), township)),
        ):
            times = []
            for _ in range(runs):
                async with center.work(admin) as work:
                    began = time.perf_counter()
                    result = await stats_.compute(work, *args)
                    times.append(time.perf_counter() - began)
            counted = sum(v.requests for v in result.volumes)
            print(
                f"{label}: {counted} requests, median {statistics.median(times) * 1000:.0f} ms, "
                f"max {max(times) * 1000:.0f} ms over {runs} runs"
            )
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the schema (prints its name)")
    parser.add_argument("--reuse", default="", help="time an existing schema; keep it")
    args = parser.parse_args()
    if args.reuse:
        await timed(args.database_url, args.reuse, args.runs)
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.database_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        began = time.perf_counter()
        if args.keep:
            print(f"schema {schema}")
        await prepare(args.database_url, schema, args.rows)
        print(f"filled {args.rows} requests in {time.perf_counter() - began:.1f} s")
        await timed(args.database_url, schema, args.runs)
    finally:
        if not args.keep:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
