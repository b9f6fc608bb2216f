"""The supervisor (health commission) reads aggregates only: every route of the server is walked
with real identifiers in it, and no answer holds a patient's name, resident ID or phone; every
other route answers 403, whatever is asked of it (before its input is read)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from consult.models import Patient
from tests.conftest import Api
from tests.core.helpers import new_patient, new_request, resident_id
from web.pages import PAGES

AGGREGATE_ROUTES = {
    "/api/v1/auth/me",
    "/api/v1/institutions",
    "/api/v1/notifications",
    "/api/v1/statistics",
    "/api/v1/statistics.csv",
    "/api/v1/statistics.xlsx",
    "/api/v1/statistics/quality",
    "/api/v1/lab/tests",  # the catalogue of tests (no patient)
    "/api/v1/charges/items",  # the price catalogue
    "/api/v1/charges/settlement",  # the community's month (totals only)
    "/healthz",
    "/readyz",
    "/api/openapi.json",
    "/fhir/metadata",  # the public CapabilityStatement
}
"""GET routes that answer the supervisor: none carries a patient."""
PUBLIC_ROUTES = {"/verify/{token}"}
"""Open to anyone without signing in (a printed report's QR code): a made-up token is 404."""
NOT_API = ("/static/", "/favicon.ico")
PAGE_SHELLS = {re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path) for path in PAGES}
"""The browser pages: the same HTML shell for everyone, data comes from the API."""
PARAM = re.compile(r"\{(\w+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}")


async def patient_fields(api: Api) -> set[str]:
    """Every patient's name, resident ID and phone in the database (the demo's and the test's)."""
    async with api.center.work() as work:
        rows = (await work.session.execute(select(Patient.name, Patient.resident_id))).all()
    values = {name for name, _ in rows} | {rid for _, rid in rows if rid}
    return {v for v in values if len(v) >= 2}


async def real_ids(api: Api) -> dict[str, list[str]]:
    """Identifiers of a patient, an ECG request, its signed report and a referral of it."""
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "钱监管", resident_id=resident_id(), phone="13900001111")
    request = await new_request(village, patient["id"], "ecg_read", "stat")
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    draft = (
        await reader.post(f"/api/v1/requests/{request['id']}/reports", {"findings": "窦性心律"})
    ).ok()
    report = (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    body = {"report_id": report["id"], "department": "cardiology", "reason": "复查"}
    referral = (await reader.post("/api/v1/referrals", body)).ok()
    ids = {str(patient["id"]), str(request["id"]), str(report["id"]), str(referral["id"]), "1"}
    return {"id": sorted(ids), "code": ["GLU", "glu"], "default": ["1.2.3"]}


def concrete(path: str, ids: dict[str, list[str]]) -> list[str]:
    """The path with each of its parameters filled with each candidate identifier."""
    names = [m.group(1) for m in PARAM.finditer(path)]
    if not names:
        return [path]
    out = []
    for value in ids.get(names[0], ids["default"]):
        out.append(PARAM.sub(lambda m, v=value: v if m.group(1) == names[0] else "1", path))
    return out


def routes_of(api: Api) -> list[tuple[str, str]]:
    seen = []
    for route in api.client.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if route.method in ("HEAD", "*") or not path or path.startswith(NOT_API):
            continue
        if path in PAGES or path in PAGE_SHELLS:
            continue
        seen.append((route.method, path))
    return sorted(set(seen))


def text_of(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return json.dumps(body, ensure_ascii=False)


async def test_the_supervisor_sees_no_patient_anywhere(api: Api) -> None:
    ids = await real_ids(api)
    secrets = await patient_fields(api)
    assert "钱监管" in secrets and len(secrets) > 20
    supervisor = await api.login("supervisor")
    assert supervisor.me["role"] == "supervisor"
    routes = routes_of(api)
    assert len(routes) > 100
    leaks, wrong = [], []
    for method, template in routes:
        if template in ("/api/v1/auth/login", "/api/v1/auth/logout"):
            continue  # open to all; and signing out ends the walk
        for path in concrete(template, ids):
            if method == "GET":
                asked = await supervisor.get(path, params={"patient_id": ids["id"][0]})
                leaks += [
                    f"GET {path}?patient_id: {s}" for s in secrets if s in text_of(asked.body)
                ]
                r = await supervisor.get(path)
            else:
                r = await supervisor.call(method, path, json={})
            text = text_of(r.body)
            leaks += [f"{method} {path}: {s}" for s in secrets if s in text]
            if template in PUBLIC_ROUTES:
                if r.status != 404:
                    wrong.append(f"{method} {path}: {r.status} {text[:120]}")
            elif method == "GET" and template in AGGREGATE_ROUTES:
                if r.status != 200:
                    wrong.append(f"{method} {path}: {r.status} {text[:120]}")
            elif 200 <= r.status < 300 or r.status >= 500:
                wrong.append(f"{method} {path}: {r.status} {text[:120]}")
            elif template == "/api/v1/events":  # a WebSocket: not upgraded here
                continue
            elif r.status != 403 or _error_code(r.body) != "forbidden":
                wrong.append(f"{method} {path}: {r.status} {text[:120]}")
    assert not leaks, "\n".join(leaks)
    assert not wrong, "\n".join(wrong)


def _error_code(body: Any) -> str:
    """The refusal's code: our JSON error, or under ``/fhir`` an OperationOutcome's details."""
    if isinstance(body, bytes):  # application/fhir+json
        outcome = json.loads(body)
        return str(outcome["issue"][0]["details"]["text"])
    return str(body["error"]["code"])
