"""Set-ups shared by the consult tests: a request of any kind, a second specialist of a kind."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, ApiUser
from tests.core.helpers import new_patient

SECOND = {"ecg_read": "ecg-reader2", "video_consult": "internist2"}
FIRST = {"ecg_read": "ecg-reader", "video_consult": "internist", "imaging_read": "radiologist"}


async def specialists(api: Api, kind: str) -> tuple[ApiUser, ApiUser]:
    """Two specialists of ``kind`` (a second radiologist is created by the administrator)."""
    first = await api.login(FIRST[kind])
    if kind in SECOND:
        return first, await api.login(SECOND[kind])
    admin = await api.login("admin")
    county = first.me["institution_id"]
    (
        await admin.post(
            "/api/v1/users",
            {
                "username": "radiologist2",
                "password": "second-password",
                "display_name": "何医生 (放射)",
                "role": "imaging_specialist",
                "institution_id": county,
                "department": "radiology",
            },
        )
    ).ok()
    return first, await api.login("radiologist2", "second-password")


async def clinic_request(
    api: Api, kind: str, question: str = "胸闷一周, 请会诊"
) -> tuple[ApiUser, dict[str, Any]]:
    village = await api.login("dr-village")
    patient = await new_patient(village, "会诊患者")
    body = {"patient_id": patient["id"], "kind": kind, "clinical_question": question}
    return village, (await village.post("/api/v1/requests", body)).ok()


PLAN_FOLLOW_UP = {"kind": "follow_up", "follow_up_on": "2099-01-15", "instructions": "复查心电图"}
