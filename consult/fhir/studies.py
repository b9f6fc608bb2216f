"""Indexed DICOM studies as FHIR ImagingStudy (plain dicts, no I/O).

Only studies linked to a patient of ours are ImagingStudies (FHIR needs a subject); the images
themselves are reached over DICOMweb, named by a contained Endpoint.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from consult.fhir.resources import BASE, Json, instant, reference
from imaging.index import ImagingSeries, ImagingStudy

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENDPOINT_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
ACCESSION_SYSTEM = f"{BASE}/sid/accession"
ENDPOINT_ID = "dicomweb"


def dicom_moment(date: str, time: str, tz: ZoneInfo) -> dt.datetime | None:
    """``YYYYMMDD`` and ``HHMMSS[.FFFFFF]`` (either part optional) in the center's zone."""
    if len(date) != 8 or not date.isdigit():
        return None
    digits = time.split(".")[0]
    clock = (digits + "000000")[:6] if digits.isdigit() else "000000"
    try:
        return dt.datetime.strptime(date + clock, "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        return None


def _modalities(text: str) -> list[Json]:
    return [{"system": DCM, "code": code} for code in text.split("\\") if code]


def endpoint(address: str) -> Json:
    """The DICOMweb service the study's images are retrieved from (contained in the study)."""
    return {
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "status": "active",
        "connectionType": {"system": ENDPOINT_TYPE, "code": "dicom-wado-rs"},
        "payloadType": [{"text": "DICOM WADO-RS"}],
        "payloadMimeType": ["application/dicom"],
        "address": address,
    }


def _series(row: ImagingSeries) -> Json:
    series: Json = {
        "uid": row.series_uid,
        "modality": {"system": DCM, "code": row.modality or "OT"},
        "numberOfInstances": row.num_instances,
        "endpoint": [{"reference": f"#{ENDPOINT_ID}"}],
    }
    if row.series_number is not None:
        series["number"] = row.series_number
    if row.description:
        series["description"] = row.description
    if row.body_part:
        series["bodySite"] = {"system": DCM, "code": row.body_part}
    return series


def imaging_study(
    row: ImagingStudy, series: list[ImagingSeries], *, tz: ZoneInfo, dicomweb: str
) -> Json:
    """A study with its counts, modalities, start and series; ``dicomweb`` is the WADO-RS base."""
    if row.patient_id is None:
        raise ValueError(f"study {row.id} is not linked to a patient")
    identifiers: list[Json] = [{"system": "urn:dicom:uid", "value": f"urn:oid:{row.study_uid}"}]
    if row.accession_number:
        identifiers.append(
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}
                    ]
                },
                "system": ACCESSION_SYSTEM,
                "value": row.accession_number,
            }
        )
    resource: Json = {
        "resourceType": "ImagingStudy",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "contained": [endpoint(dicomweb)],
        "identifier": identifiers,
        "status": "available",
        "subject": reference("Patient", row.patient_id),
        "endpoint": [{"reference": f"#{ENDPOINT_ID}"}],
        "numberOfSeries": row.num_series,
        "numberOfInstances": row.num_instances,
    }
    if modalities := _modalities(row.modalities):
        resource["modality"] = modalities
    if (started := dicom_moment(row.study_date, row.study_time, tz)) is not None:
        resource["started"] = instant(started)
    if row.request_id is not None:
        resource["basedOn"] = [reference("ServiceRequest", row.request_id)]
    if row.description:
        resource["description"] = row.description
    if row.referring_physician:
        resource["referrer"] = {"display": row.referring_physician.replace("^", " ").strip()}
    if series:
        resource["series"] = [_series(s) for s in series]
    return resource
