"""Two nodes storing the same instances at the same moment: one row and one file each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

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

    engine = create_async_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.scalar(
                text(
                    "SELECT count(*) FROM imaging_instance i JOIN imaging_series s "
                    "ON s.id = i.series_id WHERE s.series_uid = :u"
                ),
                {"u": series},
            )
            counted = (
                await conn.execute(
                    text(
                        "SELECT count(*), max(num_instances) FROM imaging_study WHERE study_uid = :u"
                    ),
                    {"u": study},
                )
            ).one()
    finally:
        await engine.dispose()
    assert rows == COUNT
    assert tuple(counted) == (1, COUNT)
    sop_uids = {str(ds.SOPInstanceUID) for ds in datasets}
    files = sorted(p.stem for p in shared.rglob("*.dcm") if p.stem in sop_uids)
    assert len(files) == COUNT, sorted(str(p.relative_to(shared)) for p in shared.rglob("*"))
    assert not [p for p in shared.rglob("*.tmp")]
