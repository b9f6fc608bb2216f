"""DICOMweb with dicomweb-client (a synchronous client, run in a thread) against the real server."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy import select

from consult.models import Institution, Patient
from tests.conftest import Api
from tests.imaging.conftest import make_ct


def client_for(api: Api, token: str) -> DICOMwebClient:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return DICOMwebClient(url=str(api.client.make_url("/dicom-web")), session=session)


async def th(fn: Any, *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw)


async def xihe_patient(api: Api) -> Patient:
    async with api.center.sessions() as session:
        patient = await session.scalar(
            select(Patient)
            .join(Institution, Institution.id == Patient.home_institution_id)
            .where(Institution.code == "th-xihe")
            .order_by(Patient.id)
        )
        assert patient is not None
        return patient


@pytest.fixture
async def stored(api: Api) -> dict[str, Any]:
    """A township doctor stores a generated CT series and pydicom's bundled samples via STOW."""
    patient = await xihe_patient(api)
    doctor = await api.login("dr-township")
    study, series = generate_uid(), generate_uid()
    ct = [
        make_ct(
            patient_id=patient.resident_id or "",
            patient_name="Wang^Jianguo",
            study_uid=study,
            series_uid=series,
            instance=i,
            study_date="20261121",
            study_time="093000",
        )
        for i in (1, 2, 3)
    ]
    samples = [
        pydicom.dcmread(get_testdata_file(n))
        for n in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_rle_2frame.dcm")
    ]  # type: ignore[arg-type]
    client = client_for(api, doctor.token)
    result = await th(client.store_instances, [*ct, *samples])
    assert len(result.ReferencedSOPSequence) == 7
    return {
        "patient": patient,
        "study": study,
        "series": series,
        "ct": ct,
        "samples": samples,
        "doctor": doctor,
    }


async def test_search_every_level_and_rule(api: Api, stored: dict[str, Any]) -> None:
    client = client_for(api, stored["doctor"].token)
    study, series = stored["study"], stored["series"]

    async def studies(**filters: str) -> set[str]:
        found = await th(client.search_for_studies, search_filters=filters)
        return {s["0020000D"]["Value"][0] for s in found}

    everything = await studies()
    assert study in everything and len(everything) == 5
    assert await studies(PatientName="wang*") == {study}  # wildcard, case-insensitive names
    assert await studies(PatientID=stored["patient"].resident_id) == {study}  # single value
    assert await studies(StudyDate="20261120-20261122") == {study}  # range
    assert study not in await studies(StudyDate="-20261120")
    assert await studies(StudyInstanceUID=f"{study}\\{stored['samples'][0].StudyInstanceUID}") == {
        study,
        stored["samples"][0].StudyInstanceUID,
    }  # UID list
    assert await studies(ModalitiesInStudy="MR") == {stored["samples"][1].StudyInstanceUID}
    found = await th(client.search_for_studies, search_filters={"StudyInstanceUID": study})
    assert found[0]["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    series_found = await th(client.search_for_series, study_instance_uid=study)
    assert [s["0020000E"]["Value"][0] for s in series_found] == [series]
    instances = await th(
        client.search_for_instances, study_instance_uid=study, series_instance_uid=series
    )
    assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(
        d.SOPInstanceUID for d in stored["ct"]
    )
    limited = await th(client.search_for_instances, study_instance_uid=study, limit=2)
    assert len(limited) == 2
    # scoping: a village clinic elsewhere sees none of it; the radiologist sees the linked study
    village = await api.login("dr-village")
    assert await th(client_for(api, village.token).search_for_studies) == []
    radiologist = await api.login("radiologist")
    seen = await th(client_for(api, radiologist.token).search_for_studies)
    assert study in {s["0020000D"]["Value"][0] for s in seen}


async def test_retrieve_metadata_frames_rendered(api: Api, stored: dict[str, Any]) -> None:
    radiologist = await api.login("radiologist")
    client = client_for(api, radiologist.token)
    study, series, ct = stored["study"], stored["series"], stored["ct"]
    instances = await th(client.retrieve_study, study)
    assert sorted(i.SOPInstanceUID for i in instances) == sorted(d.SOPInstanceUID for d in ct)
    assert instances[0].PixelData == ct[0].PixelData or instances[0].PixelData in {
        d.PixelData for d in ct
    }
    metadata = await th(client.retrieve_instance_metadata, study, series, ct[0].SOPInstanceUID)
    assert (
        "BulkDataURI" in metadata["7FE00010"]
        and metadata["00100010"]["Value"][0]["Alphabetic"] == "Wang^Jianguo"
    )
    frames = await th(
        client.retrieve_instance_frames, study, series, ct[0].SOPInstanceUID, frame_numbers=[1]
    )
    assert frames[0] == ct[0].PixelData
    jpeg = await th(
        client.retrieve_instance_rendered,
        study,
        series,
        ct[0].SOPInstanceUID,
        media_types=("image/jpeg",),
        params={"window": "40,400"},
    )
    image = np.asarray(Image.open(io.BytesIO(jpeg)))
    assert image.shape == (64, 64) and image.min() < 10 and image.max() > 245
    for preset in ("lung", "mediastinum", "bone", "brain"):
        png = await th(
            client.retrieve_instance_rendered,
            study,
            series,
            ct[0].SOPInstanceUID,
            media_types=("image/png",),
            params={"preset": preset, "viewport": "32,32"},
        )
        assert Image.open(io.BytesIO(png)).size == (32, 32)
    # compressed pixel data decoded through the plugins; a frame of a multi-frame instance
    doctor_client = client_for(api, stored["doctor"].token)
    j2k = stored["samples"][2]
    png = await th(
        doctor_client.retrieve_instance_rendered,
        j2k.StudyInstanceUID,
        j2k.SeriesInstanceUID,
        j2k.SOPInstanceUID,
        media_types=("image/png",),
    )
    assert Image.open(io.BytesIO(png)).size == (j2k.Columns, j2k.Rows)
    rle = stored["samples"][3]
    frame2 = await th(
        doctor_client.retrieve_instance_frames_rendered,
        rle.StudyInstanceUID,
        rle.SeriesInstanceUID,
        rle.SOPInstanceUID,
        frame_numbers=[2],
        media_types=("image/jpeg",),
    )
    assert Image.open(io.BytesIO(frame2)).mode == "RGB"
    # out of scope: the village doctor gets nothing
    village = await api.login("dr-village")
    response = await api.client.get(
        f"/dicom-web/studies/{study}/metadata", headers={"Authorization": f"Bearer {village.token}"}
    )
    assert response.status == 404
    assert (await api.anonymous("GET", f"/dicom-web/studies/{study}")).status == 401


async def test_stow_rejects_corrupt_part_keeps_others(api: Api, tmp_path: Path) -> None:
    patient = await xihe_patient(api)
    doctor = await api.login("dr-township")
    good = make_ct(patient_id=patient.resident_id or "")
    path = tmp_path / "good.dcm"
    good.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    boundary = "XyZ"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
            for part in (data, data[:-300])
        )
        + f"--{boundary}--\r\n".encode()
    )
    response = await api.client.post(
        "/dicom-web/studies",
        data=body,
        headers={
            "Authorization": f"Bearer {doctor.token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
    )
    assert response.status == 202
    result = await response.json()
    assert len(result["00081199"]["Value"]) == 1 and result["00081198"]["Value"][0]["00081197"][
        "Value"
    ] == [0xC000]
    client = client_for(api, doctor.token)
    found = await th(
        client.search_for_instances, search_filters={"SOPInstanceUID": good.SOPInstanceUID}
    )
    assert len(found) == 1
