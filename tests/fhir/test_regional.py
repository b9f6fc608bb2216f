"""A patient's records elsewhere in the region, asked of a regional FHIR server on loopback:
the timeline, the right patient (only the one the identifier names; another patient's records
never shown), the patient's own consent before anything leaves, the audit, and a platform that
fails or answers garbage (502 / 504, never 500)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from consult.fhir.regional import attachment_text, fhir_date, refers_to
from consult.models import AuditRecord
from tests.conftest import Api, ApiUser, serving_center
from tests.core.helpers import new_patient, new_request, resident_id
from tests.fhir.regional_peer import (
    REGION_SYSTEM,
    RegionalPeer,
    document,
    encounter,
    patient,
    report,
    serving,
)
from web.settings import RegionalFhirSetting, Settings, SettingsError, load_settings

RID = resident_id("19620305", 417)
BIRTH = "1962-03-05"
REGION_ID = "r-1001"
HOSPITAL = "市第一人民医院"


def seeded_region() -> RegionalPeer:
    """One patient with a discharge summary, a CTA report and an admission; a record of
    another patient that a careless platform sends along."""
    return RegionalPeer(
        patients=[
            patient(REGION_ID, RID, "钱九"),
            patient("r-2002", resident_id(order=555), "孙十"),
        ],
        records=[
            document(
                "doc-1",
                REGION_ID,
                "2025-03-02T09:30:00+08:00",
                "出院小结",
                HOSPITAL,
                "冠心病支架术后",
            ),
            report(
                "dr-1", REGION_ID, "2025-06-10T10:00:00+08:00", "冠脉造影", "支架通畅", HOSPITAL
            ),
            encounter("enc-1", REGION_ID, "2024-11-20", "IMP", "心内科住院", HOSPITAL),
        ],
        leaked=[
            document(
                "doc-9", "r-2002", "2025-07-01T08:00:00+08:00", "他人病历", HOSPITAL, "孙十的病历"
            )
        ],
    )


def center_with_region(
    settings: Settings, url: str, **extra: Any
) -> AbstractAsyncContextManager[Api]:
    """The center with the regional platform at ``url`` configured."""
    setting = RegionalFhirSetting(url=url, name="区域平台", **extra)
    return serving_center(settings.model_copy(update={"regional_fhir": setting}))


async def consented_patient(api: Api, *, regional: bool = True, rid: str = RID) -> int:
    """A patient of dr-village with an ECG request (so the reader knows them) and consents."""
    village = await api.login("dr-village")
    p = (
        await new_patient(village, "钱九", resident_id=rid, birth_date=BIRTH)
        if rid
        else await new_patient(village)
    )
    if regional:
        (
            await village.post(
                f"/api/v1/patients/{p['id']}/consents", {"scope": "regional_records"}
            )
        ).ok()
    await new_request(village, p["id"], "ecg_read")
    return int(p["id"])


async def regional(user: ApiUser, patient_id: int) -> tuple[int, Any]:
    r = await user.get(f"/api/v1/patients/{patient_id}/regional")
    return r.status, r.body


async def audit_rows(api: Api, action: str) -> list[AuditRecord]:
    await api.center.audit_log.drain()
    async with api.center.sessions() as session:
        return list(await session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


@pytest.mark.both_backends  # consent and the right patient: a safety rule
async def test_the_reader_sees_the_patients_regional_timeline(settings: Settings) -> None:
    peer = seeded_region()
    async with serving(peer) as url, center_with_region(settings, url) as api:
        pid = await consented_patient(api)
        reader = await api.login("ecg-reader")
        status, body = await regional(reader, pid)
        assert status == 200, body
        assert body["status"] == "ok" and body["source"] == "区域平台"
        assert [e["id"] for e in body["entries"]] == ["dr-1", "doc-1", "enc-1"]  # newest first
        summary, cta, stay = body["entries"][1], body["entries"][0], body["entries"][2]
        assert summary["date"] == "2025-03-02T01:30:00+00:00"
        assert (summary["title"], summary["organization"]) == ("出院小结", HOSPITAL)
        assert summary["text"] == "冠心病支架术后"  # the inline text attachment
        assert (cta["title"], cta["text"]) == ("冠脉造影", "支架通畅")
        assert (stay["encounter_class"], stay["title"]) == ("IMP", "心内科住院")
        assert body["mismatched"] == 1 and "孙十" not in str(body)  # another patient: never shown
        assert peer.searched("Patient") == [{"identifier": f"{REGION_SYSTEM}|{RID}"}]
        assert {
            q["patient"] for k in ("DocumentReference", "Encounter") for q in peer.searched(k)
        } == {REGION_ID}
        rows = await audit_rows(api, "patient.regional")
        assert [(r.patient_id, r.outcome) for r in rows] == [(pid, "success")]


@pytest.mark.both_backends
async def test_nothing_leaves_without_the_patients_regional_consent(settings: Settings) -> None:
    peer = seeded_region()
    async with serving(peer) as url, center_with_region(settings, url) as api:
        pid = await consented_patient(api, regional=False)
        reader = await api.login("ecg-reader")
        status, body = await regional(reader, pid)
        assert status == 403 and body["error"]["code"] == "regional_consent_required", body
        assert peer.seen == []  # the patient's identity was not sent
        denied = await audit_rows(api, "patient.regional")
        assert [(r.patient_id, r.outcome) for r in denied] == [(pid, "denied")]

        stranger = await api.login("dr-township")  # another township's doctor
        assert (await regional(stranger, pid))[0] == 404
        # the supervisor reads aggregates only, the auditor the log: neither asks the region
        assert (await regional(await api.login("supervisor"), pid))[0] == 403
        assert (await regional(await api.login("auditor"), pid))[0] == 404
        village = await api.login("dr-village")
        consents = (await village.get(f"/api/v1/patients/{pid}/consents")).ok()
        (await village.post(f"/api/v1/consents/{consents[0]['id']}/withdraw")).ok()  # records
        (await village.post(f"/api/v1/patients/{pid}/consents", {"scope": "regional_records"})).ok()
        status, body = await regional(reader, pid)
        assert status == 403 and body["error"]["code"] == "consent_required", body
        assert peer.seen == []
        assert (await regional(village, pid))[1]["status"] == "ok"  # the clinic itself


async def test_only_the_patient_the_identifier_names(settings: Settings) -> None:
    peer = seeded_region()
    peer.patients.append(patient("r-3003", RID, "钱九（重复建档）"))
    async with serving(peer) as url, center_with_region(settings, url) as api:
        pid = await consented_patient(api)
        reader = await api.login("ecg-reader")
        assert (await regional(reader, pid))[1]["status"] == "ambiguous"
        assert peer.searched("DocumentReference") == []  # nothing asked of either
        peer.patients = peer.patients[1:2]  # only 孙十, and a platform ignoring the identifier
        peer.ignore_identifier = True
        status, body = await regional(reader, pid)
        assert (status, body["status"], body["entries"]) == (200, "not_found", [])

        no_id = await consented_patient(api, rid="")
        assert (await regional(reader, no_id))[1]["status"] == "no_identifier"


GARBAGE = [
    ("Patient", 200, b"<html>portal login</html>", 502, "upstream_failed"),
    ("Patient", 200, b'{"resourceType": "OperationOutcome"}', 502, "upstream_failed"),
    ("Patient", 500, b"{}", 502, "upstream_failed"),
    ("Patient", 200, b'{"resourceType": "Bundle", "entry": {"x": 1}}', 502, "upstream_failed"),
    ("Patient", 200, b"[" * 60_000, 502, "upstream_failed"),  # nested past any parser's depth
    ("Patient", 200, b'{"resourceType": "Bundle", "entry": [' + b"1," * 40_000 + b"1]}", 502, ""),
]
"""The last is over the 64 KB the test center allows an answer."""


@pytest.mark.parametrize(("kind", "status", "body", "expected", "code"), GARBAGE)
async def test_a_platform_answering_garbage_is_a_502(
    settings: Settings, kind: str, status: int, body: bytes, expected: int, code: str
) -> None:
    peer = seeded_region()
    peer.raw[kind] = (status, body)
    async with serving(peer) as url, center_with_region(settings, url, max_response_kb=64) as api:
        pid = await consented_patient(api)
        got, answer = await regional(await api.login("ecg-reader"), pid)
        assert got == expected, answer
        assert answer["error"]["code"] == (code or "upstream_failed")


async def test_one_record_type_failing_leaves_the_others(settings: Settings) -> None:
    peer = seeded_region()
    peer.raw["Encounter"] = (404, b'{"resourceType": "OperationOutcome"}')
    peer.records.append(
        {
            "resourceType": "DiagnosticReport",
            "id": "bad id!",
            "subject": {"reference": "Patient/r-1001"},
        }
    )
    peer.more = True
    async with serving(peer) as url, center_with_region(settings, url) as api:
        pid = await consented_patient(api)
        status, body = await regional(await api.login("ecg-reader"), pid)
        assert status == 200, body
        assert [e["id"] for e in body["entries"]] == ["dr-1", "doc-1"]
        assert (body["unavailable"], body["skipped"], body["more"]) == (["Encounter"], 1, True)


async def test_a_platform_down_or_slow_is_a_502_or_504(settings: Settings) -> None:
    peer = seeded_region()
    async with serving(peer) as url:
        closed = url  # the peer stops below: its port refuses
    async with center_with_region(settings, closed) as api:
        pid = await consented_patient(api)
        reader = await api.login("ecg-reader")
        status, body = await regional(reader, pid)
        assert (status, body["error"]["code"]) == (502, "upstream_failed"), body
    peer.delay = 1.0
    async with serving(peer) as url, center_with_region(settings, url, timeout_seconds=0.2) as api:
        pid = await consented_patient(api, rid=resident_id("19620305", 419))
        status, body = await regional(await api.login("ecg-reader"), pid)
        assert (status, body["error"]["code"]) == (504, "upstream_timeout"), body


async def test_no_platform_configured(api: Api) -> None:
    pid = await consented_patient(api)
    status, body = await regional(await api.login("ecg-reader"), pid)
    assert (status, body["status"], body["configured"]) == (200, "not_configured", False)
    assert await audit_rows(api, "patient.regional") == []


def test_hostile_values_are_read_safely() -> None:
    assert fhir_date("2025-03-02T09:30:00+08:00") == "2025-03-02T01:30:00+00:00"
    assert fhir_date("2025-03") == "2025-03"
    assert fhir_date("03/02/2025") is None and fhir_date(20250302) is None
    assert refers_to("http://region/fhir/Patient/r-1/_history/3", "r-1")
    assert not refers_to("Patient/r-10", "r-1") and not refers_to({"ref": 1}, "r-1")
    assert attachment_text({"contentType": "text/html", "data": "PGI+"}) == ""
    assert attachment_text({"contentType": "text/plain", "data": "not base64!"}) == ""


def test_the_platform_is_configured_in_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "telecenter.toml"
    config.write_text(
        '[telecenter.regional_fhir]\nurl = "http://10.0.9.4/fhir/"\nname = "市全民健康信息平台"\n',
        encoding="utf-8",
    )
    setting = load_settings(config, environ={}).regional_fhir
    assert setting is not None and setting.url == "http://10.0.9.4/fhir"
    assert setting.identifier_system == REGION_SYSTEM and setting.timeout_seconds == 5
    config.write_text('[telecenter.regional_fhir]\nurl = "ftp://x"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="regional_fhir"):
        load_settings(config, environ={})
