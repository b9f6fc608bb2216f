"""Issue 19 item 8: the longest recording an upload may hold is a setting
(``ecg_max_duration_hours``, 48 h by default). Here it is lowered below a 10 s record: a WFDB zip
is refused from its header, before any sample is read, and a CSV export once read; both 422 with
the limit named in Chinese and English, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Api, Database, make_settings
from tests.core.helpers import new_patient
from tests.ecg.synth import SynthSpec, synth
from tests.ecg_center.files import csv_text, normal_zip
from tests.ecg_center.test_ecg_api import upload
from web.settings import Settings

LIMIT_HOURS = 5 / 3600  # five seconds: every 10 s test record is over it


@pytest.fixture
def settings(tmp_path: Path, seeded_database: Database) -> Settings:
    return make_settings(tmp_path, seeded_database, ecg_max_duration_hours=LIMIT_HOURS)


CSV_FIELDS = {
    "csv_fs": "500",
    "csv_gain": "1000",
    "csv_leads": "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6",
    "csv_header_rows": "1",
}


@pytest.mark.parametrize("kind", ["wfdb", "csv"])
async def test_a_recording_over_the_limit_is_refused(api: Api, kind: str) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    if kind == "wfdb":
        status, body = await upload(village, patient["id"], normal_zip(), "long.zip")
    else:
        data = csv_text(synth(SynthSpec(rate_bpm=70, seed=3)))
        status, body = await upload(village, patient["id"], data, "long.csv", **CSV_FIELDS)
    assert status == 422, body
    message = body["error"]["message"]
    assert "超过上限" in message and "at most 0.00139 h" in message, message
    assert (await village.get(f"/api/v1/requests?patient_id={patient['id']}")).ok() == []
