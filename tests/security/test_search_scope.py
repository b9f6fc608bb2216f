"""Issue 19.7: patient search applies the rule of reading one record, and audits each patient."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient, new_request

pytestmark = pytest.mark.both_backends  # a safety rule or the database layer: both backends


async def _found(user: ApiUser, q: str) -> set[int]:
    return {p["id"] for p in (await user.get(f"/api/v1/patients?q={q}")).ok()}


async def _searches(auditor: ApiUser, patient_id: int) -> list[dict[str, Any]]:
    records = await auditor.get(f"/api/v1/audit?patient_id={patient_id}&action=patient.search")
    return records.ok()  # type: ignore[no-any-return]


async def test_specialist_search_returns_only_readable_patients(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    auditor = await api.login("auditor")
    consented = await new_patient(village, "搜索甲")
    unconsented = await new_patient(village, "搜索乙", consent=False)
    unlinked = await new_patient(village, "搜索丙")  # consent, but no request for the reader
    for patient in (consented, unconsented):
        await new_request(village, patient["id"])

    # the reader is refused the unconsented record by id, so search must not reveal it either
    assert (await reader.get(f"/api/v1/patients/{unconsented['id']}")).status == 403
    assert await _found(reader, "搜索") == {consented["id"]}
    assert await _found(village, "搜索") == {consented["id"], unconsented["id"], unlinked["id"]}
    # the township of another area knows none of them
    assert await _found(await api.login("dr-township"), "搜索") == set()

    # each patient returned is audited with the patient as a column; the others are not
    reads = await _searches(auditor, consented["id"])
    assert {(r["actor"], r["outcome"]) for r in reads} >= {
        ("ecg-reader", "success"),
        ("dr-village", "success"),
    }
    assert all(r["patient_id"] == consented["id"] for r in reads)
    assert {r["actor"] for r in await _searches(auditor, unconsented["id"])} == {"dr-village"}


async def test_override_opens_search_for_its_holder_only(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "急诊查询", consent=False)
    await new_request(village, patient["id"])
    assert await _found(reader, "急诊查询") == set()
    (
        await reader.post(
            f"/api/v1/patients/{patient['id']}/emergency-access",
            {"reason": "疑似急性心梗, 家属无法联系"},
        )
    ).ok()
    assert await _found(reader, "急诊查询") == {patient["id"]}
    # another reader of the same kind has no override
    assert await _found(await api.login("ecg-reader2"), "急诊查询") == set()
