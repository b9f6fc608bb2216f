"""Authorization: each role against each kind of route, with the exact status of each refusal;
cross-clinic isolation answers 404."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient, new_request

ROLES = [
    "admin",
    "auditor",
    "dr-village",
    "dr-township",
    "ecg-reader",
    "radiologist",
    "lab-tech",
    "lab-supervisor",
    "internist",
    "referral-desk",
    "supervisor",
]
OUT_OF_SCOPE, FORBIDDEN = 404, 403


@dataclass(frozen=True)
class Route:
    """One route against every role. ``allowed``: role -> status; every other role is refused
    with ``refused``, except those in ``otherwise`` (role -> status).

    The rule the statuses pin (README, "Access rules"): scope comes first, so a record the
    caller cannot see answers 404 (``not_found``) whatever is asked of it; a record in scope, or
    no record at all, with an action the caller's role may never take answers 403
    (``forbidden``). The supervisor reads aggregates only: every route not allowed to it is
    forbidden, scope or not.
    """

    method: str
    path: str  # {p}: a patient of dr-village's clinic (with consent), {r}: its ECG-read request
    body: dict[str, Any] | None
    allowed: dict[str, int]
    refused: int
    otherwise: dict[str, int] = field(default_factory=dict)

    def expected(self, username: str) -> int:
        if username in self.allowed:
            return self.allowed[username]
        if username == "supervisor":
            return FORBIDDEN
        return self.otherwise.get(username, self.refused)

    def order(self) -> list[str]:
        """The refused first: ``accept`` changes the request, and then others would get 409."""
        return sorted(ROLES, key=lambda username: username in self.allowed)


READERS = {"dr-village": 200, "ecg-reader": 200}
MATRIX = [
    Route("GET", "/api/v1/patients/{p}", None, READERS, OUT_OF_SCOPE),
    Route("GET", "/api/v1/requests/{r}", None, READERS, OUT_OF_SCOPE),
    Route("GET", "/api/v1/patients/{p}/consents", None, READERS, OUT_OF_SCOPE),
    Route(
        "POST",
        "/api/v1/patients",
        {"name": "新患者", "sex": "F"},
        {"dr-village": 201, "dr-township": 201},
        FORBIDDEN,
    ),
    Route(
        "POST",
        "/api/v1/requests",
        {"patient_id": "{p}", "kind": "lab_test"},
        {"dr-village": 201},
        FORBIDDEN,
        {"dr-township": OUT_OF_SCOPE},  # a clinic, but not this patient's
    ),
    Route(
        "POST",
        "/api/v1/requests/{r}/accept",
        None,
        {"ecg-reader": 200},
        OUT_OF_SCOPE,
        {"dr-village": FORBIDDEN},  # sees the request, may never accept one
    ),
    Route(
        "GET",
        "/api/v1/worklist",
        None,
        dict.fromkeys(
            ["ecg-reader", "radiologist", "lab-tech", "lab-supervisor", "internist"], 200
        ),
        FORBIDDEN,
    ),
    Route("GET", "/api/v1/inbox", None, {"dr-village": 200, "dr-township": 200}, FORBIDDEN),
    Route("GET", "/api/v1/users", None, {"admin": 200}, FORBIDDEN),
    Route(
        "POST",
        "/api/v1/institutions",
        {"code": "vc-new", "name": "新村卫生室", "level": "village", "parent_id": 2},
        {"admin": 201},
        FORBIDDEN,
    ),
    Route("GET", "/api/v1/audit", None, {"auditor": 200}, FORBIDDEN),
    Route("GET", "/api/v1/audit/verify", None, {"auditor": 200}, FORBIDDEN),
    Route("GET", "/api/v1/institutions", None, dict.fromkeys(ROLES, 200), FORBIDDEN),
    Route("GET", "/api/v1/notifications", None, dict.fromkeys(ROLES, 200), FORBIDDEN),
    # -- statistics: the community's figures, for all but the auditor --
    Route(
        "GET",
        "/api/v1/statistics",
        None,
        dict.fromkeys([r for r in ROLES if r != "auditor"], 200),
        FORBIDDEN,
    ),
    Route(
        "GET",
        "/api/v1/statistics.csv",
        None,
        dict.fromkeys([r for r in ROLES if r != "auditor"], 200),
        FORBIDDEN,
    ),
]
ERROR_CODES = {OUT_OF_SCOPE: "not_found", FORBIDDEN: "forbidden"}


@pytest.mark.parametrize("route", MATRIX, ids=[f"{r.method} {r.path}" for r in MATRIX])
async def test_role_matrix(api: Api, route: Route) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    request = await new_request(village, patient["id"])

    def fill(value: object) -> object:
        if isinstance(value, str):
            filled = value.format(p=patient["id"], r=request["id"])
            return int(filled) if value in ("{p}", "{r}") else filled
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    path = fill(route.path)
    body = fill(route.body) if route.body is not None else ({} if route.method == "POST" else None)
    tried = []
    for username in route.order():
        user = await api.login(username)
        r = await user.call(route.method, path, json=body)
        expected = route.expected(username)
        assert r.status == expected, f"{username} {route.method} {path}: {r.status} {r.body}"
        if expected in ERROR_CODES:
            assert r.body["error"]["code"] == ERROR_CODES[expected], (username, r.body)
        tried.append(username)
    assert sorted(tried) == sorted(ROLES)


async def test_every_api_route_needs_a_token(api: Api) -> None:
    spec = (await api.anonymous("GET", "/api/openapi.json")).body
    checked = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "security" not in op:
                continue
            concrete = re.sub(r"\{\w+\}", "1", path)
            r = await api.anonymous(method.upper(), concrete, json={})
            assert r.status == 401, f"{method} {path} answered {r.status} without a token"
            bad = await api.anonymous(
                method.upper(), concrete, json={}, headers={"Authorization": "Bearer nope"}
            )
            assert bad.status == 401
            checked += 1
    assert checked > 30


async def test_cross_clinic_isolation_is_404(api: Api) -> None:
    village = await api.login("dr-village")
    township = await api.login("dr-township")  # a different township from dr-village's
    patient = await new_patient(village)
    request = await new_request(village, patient["id"])
    for path in (
        f"/api/v1/patients/{patient['id']}",
        f"/api/v1/requests/{request['id']}",
        f"/api/v1/patients/{patient['id']}/consents",
    ):
        r = await township.get(path)
        assert r.status == 404 and r.body["error"]["code"] == "not_found", path
    assert (
        await township.post(f"/api/v1/requests/{request['id']}/cancel", {"reason": "x"})
    ).status == 404
    assert (
        await township.post("/api/v1/requests", {"patient_id": patient["id"], "kind": "ecg_read"})
    ).status == 404
    found = (await township.get("/api/v1/patients?q=赵")).ok()
    assert patient["id"] not in [p["id"] for p in found]
    listed = (await township.get("/api/v1/requests")).ok()
    assert request["id"] not in [r["id"] for r in listed]
    # a missing record looks the same as someone else's
    missing = await township.get("/api/v1/patients/999999")
    theirs = await township.get(f"/api/v1/patients/{patient['id']}")
    assert (missing.status, missing.body["error"]["code"]) == (
        theirs.status,
        theirs.body["error"]["code"],
    )


async def test_township_sees_its_villages_but_not_others(api: Api) -> None:
    # dr-village is under th-dongcheng; sign in a doctor of th-dongcheng (created by admin)
    admin = await api.login("admin")
    institutions = (await admin.get("/api/v1/institutions")).ok()
    dongcheng = next(i for i in institutions if i["code"] == "th-dongcheng")
    (
        await admin.post(
            "/api/v1/users",
            {
                "username": "dr-dongcheng",
                "password": "long-enough-pw",
                "role": "township_doctor",
                "institution_id": dongcheng["id"],
            },
        )
    ).ok()
    township = await api.login("dr-dongcheng", "long-enough-pw")
    village = await api.login("dr-village")
    patient = await new_patient(village)
    assert (await township.get(f"/api/v1/patients/{patient['id']}")).status == 200
    assert (await village.get(f"/api/v1/patients/{patient['id']}")).status == 200
    other = await new_patient(township, "镇上患者")
    assert (await village.get(f"/api/v1/patients/{other['id']}")).status == 404


async def test_specialist_sees_only_their_kinds(api: Api) -> None:
    village = await api.login("dr-village")
    patient = await new_patient(village)
    ecg = await new_request(village, patient["id"], "ecg_read")
    radiologist = await api.login("radiologist")
    assert (await radiologist.get(f"/api/v1/requests/{ecg['id']}")).status == 404
    assert (await radiologist.get(f"/api/v1/patients/{patient['id']}")).status == 404
    assert ecg["id"] not in [r["id"] for r in (await radiologist.get("/api/v1/worklist")).ok()]
    imaging = await new_request(village, patient["id"], "imaging_read")
    assert (await radiologist.get(f"/api/v1/requests/{imaging['id']}")).status == 200
    assert (await radiologist.get(f"/api/v1/patients/{patient['id']}")).status == 200


async def test_consult_specialist_sees_the_patients_other_requests_while_consulting(
    api: Api,
) -> None:
    village = await api.login("dr-village")
    internist = await api.login("internist")
    patient = await new_patient(village)
    ecg = await new_request(village, patient["id"], "ecg_read")
    assert (await internist.get(f"/api/v1/requests/{ecg['id']}")).status == 404
    consult = await new_request(village, patient["id"], "video_consult")
    assert (await internist.get(f"/api/v1/requests/{ecg['id']}")).status == 404  # not theirs yet
    (await internist.post(f"/api/v1/requests/{consult['id']}/accept")).ok()
    assert (await internist.get(f"/api/v1/requests/{ecg['id']}")).ok()["id"] == ecg["id"]
    assert ecg["id"] in [
        r["id"] for r in (await internist.get(f"/api/v1/requests?patient_id={patient['id']}")).ok()
    ]
    assert ecg["id"] not in [r["id"] for r in (await internist.get("/api/v1/worklist")).ok()]
    other = await new_patient(village, "别的患者")
    other_ecg = await new_request(village, other["id"], "ecg_read")
    assert (await internist.get(f"/api/v1/requests/{other_ecg['id']}")).status == 404
    (await village.post(f"/api/v1/requests/{consult['id']}/cancel", {"reason": "会诊结束"})).ok()
    assert (
        await internist.get(f"/api/v1/requests/{ecg['id']}")
    ).status == 404  # only while consulting
