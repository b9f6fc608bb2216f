"""A file that was acknowledged and written but not yet indexed when the server stopped is
indexed at the next start, never lost."""

from __future__ import annotations

import io
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from imaging.files import FileStore
from imaging.index import ImagingInstance, ImagingReconciliation, ImagingStudy
from tests.conftest import Database, make_settings
from tests.imaging.conftest import make_ct
from web.app import create_app
from web.imaging_wiring import ARCHIVE


async def test_stored_but_unindexed_files_are_indexed_at_start(
    tmp_path: Path, seeded_database: Database
) -> None:
    settings = make_settings(tmp_path, seeded_database)
    store = FileStore(settings.data_dir / "dicom")
    orphans = [make_ct(patient_id="UNKNOWN-77", instance=i) for i in (1, 2)]
    for ds in orphans:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        store.write(store.relative_path(ds.StudyInstanceUID, ds.SOPInstanceUID), [buf.getvalue()])
    (store.root / "ab").mkdir(exist_ok=True)
    (store.root / "ab" / "junk.dcm").write_bytes(b"not dicom at all")  # logged, not fatal

    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        await client.server.app[ARCHIVE].flush()
        sessions = client.server.app[ARCHIVE].ingest.center.sessions
        async with sessions() as session:
            uids = set(await session.scalars(select(ImagingInstance.sop_uid)))
            studies = list(await session.scalars(select(ImagingStudy)))
            waiting = list(await session.scalars(select(ImagingReconciliation)))
        assert {str(ds.SOPInstanceUID) for ds in orphans} <= uids
        assert {s.study_uid for s in studies} >= {
            str(orphans[0].StudyInstanceUID),
            str(orphans[1].StudyInstanceUID),
        }
        assert len(waiting) == 2  # unknown sender and patient: filed for reconciliation
        health = await client.get("/healthz")
        assert health.status == 200
    finally:
        await client.close()
