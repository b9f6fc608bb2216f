"""Two nodes storing the same instances at the same moment: one row and one file each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.imaging.conftest import make_ct, store_all
from tests.nodes.conftest import Cluster, free_port, needs_pg, needs_redis

COUNT = 20


@needs_pg
@needs_redis
async def test_same_instances_from_two_nodes_are_one_row_and_one_file(
    cluster: Cluster, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # the directory every node mounts (NFS in production)
    ports = [free_port(), free_port()]
    first = await cluster.start("a", "--demo", "--dicom-port", str(ports[0]), data_dir=shared)
    await first.wait_healthy()
    second = await cluster.start("b", "--dicom-port", str(ports[1]), data_dir=shared)
    await second.wait_healthy()
    study, series = generate_uid(), generate_uid()
    datasets = [
        make_ct(study_uid=study, series_uid=series, instance=i + 1, patient_id="NODES-1")
        for i in range(COUNT)
    ]
    statuses = await asyncio.gather(
        *(asyncio.to_thread(store_all, port, datasets) for port in ports)
    )
    assert statuses == [[0] * COUNT, [0] * COUNT]

    # A C-STORE is answered once its file is durable and its index row queued; the row commits a
    # moment later (after a retry where the other node wrote the same rows first).
    engine = create_async_engine(cluster.database_url)
    try:
        async with asyncio.timeout(20):
            while (await _counts(engine, study, series))[0] < COUNT:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # and no more than that arrive
        rows, studies, instances = await _counts(engine, study, series)
    finally:
        await engine.dispose()
    assert rows == COUNT
    assert (studies, instances) == (1, COUNT)
    sop_uids = {str(ds.SOPInstanceUID) for ds in datasets}
    files = sorted(p.stem for p in shared.rglob("*.dcm") if p.stem in sop_uids)
    assert len(files) == COUNT, sorted(str(p.relative_to(shared)) for p in shared.rglob("*"))
    assert not [p for p in shared.rglob("*.tmp")]


async def _counts(engine: AsyncEngine, study: str, series: str) -> tuple[int, int, int]:
    """Instance rows of the series, study rows of the UID, and the study's instance count."""
    async with engine.connect() as conn:
        rows = await conn.scalar(
            text(
                "SELECT count(*) FROM imaging_instance i JOIN imaging_series s "
                "ON s.id = i.series_id WHERE s.series_uid = :u"
            ),
            {"u": series},
        )
        studies, instances = (
            await conn.execute(
                text("SELECT count(*), max(num_instances) FROM imaging_study WHERE study_uid = :u"),
                {"u": study},
            )
        ).one()
    return int(rows or 0), int(studies or 0), int(instances or 0)
