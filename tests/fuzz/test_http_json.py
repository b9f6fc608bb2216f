"""Issue 18.1: hypothesis-generated JSON against every POST/PATCH/PUT endpoint of the API.

The endpoints come from the app's own registry (``web.app.TABLES``), so a new endpoint is fuzzed
without touching this file. Each one gets hostile JSON (wrong types, huge integers, deep nesting,
NUL, lone surrogates, odd unicode, missing and extra fields, mutations of a valid body built
from its pydantic model) from a signed-in user of a suitable role. The answer is never a 5xx,
an error is JSON of the API's error shape, and after a refusal (4xx) no table holds a row more
or less than before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import func, select

from consult.models import Base
from tests.conftest import Api, ApiUser, Resp
from tests.core.helpers import new_patient, new_request
from tests.fuzz.hostile import bounded, json_values, mutate, on_loop
from web.api import Endpoint
from web.app import TABLES

EXAMPLES = 12
WRITES = ("POST", "PATCH", "PUT")
NOT_COUNTED = {"audit_record", "auth_token"}  # a refusal is audited; sign-ins make tokens
ENDPOINTS = [e for table in TABLES for e in table.items if e.method in WRITES]

USER_OF_TAG = {
    "auth": "internist2",
    "admin": "admin",
    "patients": "dr-village",
    "requests": "ecg-reader",
    "ownership": "ecg-head",
    "reports": "ecg-reader",
    "referrals": "referral-desk",
    "notifications": "dr-village",
    "ecg": "dr-village",
    "ecg_reading": "ecg-reader",
    "rooms": "internist",
    "lab": "lab-tech",
    "imaging": "admin",
    "dicomweb": "radiologist",
    "critical": "duty-desk",
    "charges": "dr-township",
    "quality": "ecg-reader",
    "his": "admin",
}
USER_OF_PATH = {  # where the tag's user is not the one who may do it
    "/api/v1/requests": "dr-village",
    "/cancel": "dr-village",
    "/read": "dr-village",
    "/api/v1/referrals": "dr-village",
    "/api/v1/capacity": "cardio-desk",
    "/release": "lab-supervisor",
    "/api/v1/lab/orders": "dr-village",
    "/api/v1/lab/tests": "admin",
    "/api/v1/ecgs/reconciliation/{id}/resolve": "ecg-reader",
    "/api/v1/imaging/reconciliation/{id}/resolve": "radiologist",
    "/api/v1/charges/items/{code}": "admin",
    "/api/v1/charges/settlement/close": "admin",
}
PATH_ROW = {  # the segment before a path parameter -> the table an existing row is taken from
    "institutions": "institution",
    "users": "app_user",
    "patients": "patient",
    "consents": "consent",
    "requests": "diagnostic_request",
    "reports": "report",
    "referrals": "referral",
    "capacity": "capacity_slot",
    "notifications": "notification",
    "orders": "lab_order",
    "specimens": "lab_specimen",
    "results": "lab_result",
    "alerts": "critical_alert",
}
FIELD_ROW = {
    "patient_id": "patient",
    "request_id": "diagnostic_request",
    "institution_id": "institution",
    "department_id": "department",
    "user_id": "app_user",
    "performer_id": "app_user",
    "slot_id": "capacity_slot",
    "order_id": "lab_order",
}


def _plain(path: str) -> str:
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def user_for(endpoint: Endpoint) -> str:
    path = _plain(endpoint.path)
    for suffix, user in sorted(USER_OF_PATH.items(), key=lambda kv: -len(kv[0])):
        if path == suffix or (suffix.startswith("/") and path.endswith(suffix) and "{" in path):
            return user
    return USER_OF_TAG.get(endpoint.tag, "admin")


def concrete(endpoint: Endpoint, ids: dict[str, int]) -> str:
    """The endpoint's path with each parameter replaced by an existing row's id (or 1)."""
    parts = _plain(endpoint.path).split("/")
    out = []
    for i, part in enumerate(parts):
        if part.startswith("{"):
            out.append(str(ids.get(PATH_ROW.get(parts[i - 1], ""), 1)))
        else:
            out.append(part)
    return "/".join(out)


def sample(schema: dict[str, Any], defs: dict[str, Any], name: str, ids: dict[str, int]) -> Any:
    """A plausible valid value for a JSON schema (the model's own ``model_json_schema``)."""
    if "$ref" in schema:
        return sample(defs[schema["$ref"].split("/")[-1]], defs, name, ids)
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], defs, name, ids)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: sample(v, defs, k, ids) for k, v in props.items()}
    if kind == "array":
        return [sample(schema.get("items", {}), defs, name, ids)]
    if kind == "integer":
        return ids.get(FIELD_ROW.get(name, ""), max(1, schema.get("minimum", 1)))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format", "")
        if fmt == "date-time":
            return "2030-01-01T08:00:00+08:00"
        if fmt == "date":
            return "1980-01-01"
        return "测试" if schema.get("minLength", 0) <= 2 else "x" * schema["minLength"]
    return None


def valid_body(model: type[BaseModel] | None, ids: dict[str, int]) -> dict[str, Any]:
    if model is None:
        return {}
    schema = model.model_json_schema()
    value = sample(schema, schema.get("$defs", {}), "", ids)
    return value if isinstance(value, dict) else {}


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        json_values,
        st.builds(mutate, st.just(valid), st.randoms(use_true_random=False), json_values),
        st.dictionaries(st.sampled_from(sorted(valid) or ["x"]), json_values, max_size=6),
        st.binary(max_size=40),  # not JSON at all
    )


async def counts(api: Api) -> tuple[int, ...]:
    """The row count of every table (but audit and tokens), in one statement."""
    tables = [t for name, t in sorted(Base.metadata.tables.items()) if name not in NOT_COUNTED]
    query = select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
    async with api.center.sessions() as session:
        return tuple((await session.execute(query)).one())


async def existing_ids(api: Api) -> dict[str, int]:
    async with api.center.sessions() as session:
        found = {}
        for name, table in Base.metadata.tables.items():
            if "id" in table.c:
                first = (await session.execute(select(func.min(table.c.id)))).scalar_one()
                if first is not None:
                    found[name] = int(first)
        return found


async def send(api: Api, user: ApiUser | None, method: str, path: str, body: Any) -> Resp:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()  # ASCII escapes
    headers = {"Content-Type": "application/json", **(user.headers if user else {})}
    async with api.client.request(method, path, data=raw, headers=headers) as r:
        text = await r.read()
        assert r.status < 500, (method, path, body, r.status, text[:500])
        if r.status < 400:
            return Resp(r.status, None)
        assert r.content_type == "application/json", (method, path, r.status, text[:200])
        answer = json.loads(text)
        error = answer["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), answer
        return Resp(r.status, answer)


async def prepared(api: Api) -> None:
    """Rows for the paths to name: a request accepted by the ECG reader, with a draft report."""
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = await new_patient(village, "模糊")
    made = await new_request(village, patient["id"])
    (await reader.post(f"/api/v1/requests/{made['id']}/accept")).ok()
    (await reader.post(f"/api/v1/requests/{made['id']}/start")).ok()
    await reader.post(f"/api/v1/requests/{made['id']}/reports", {"findings": "窦性心律"})


def _check(
    api: Api, endpoint: Endpoint, path: str, user: ApiUser | None
) -> Callable[[Any], Coroutine[Any, Any, None]]:
    async def check(body: Any) -> None:
        if endpoint.path.endswith("/auth/logout"):  # a fresh token to spend each time
            api._users.pop("internist2", None)
            current: ApiUser | None = await api.login("internist2")
        else:
            current = user
        before = await counts(api)
        answer = await send(api, current, endpoint.method, path, body)
        if 400 <= answer.status < 500:
            assert await counts(api) == before, (endpoint.method, path, body, answer.body)

    return check


async def fuzz_endpoint(api: Api, endpoint: Endpoint, ids: dict[str, int]) -> None:
    user = None if endpoint.public else await api.login(user_for(endpoint))
    check = _check(api, endpoint, concrete(endpoint, ids), user)
    valid = valid_body(endpoint.body, ids)

    def run(submit: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        @bounded(EXAMPLES)
        @given(body=bodies(valid))
        def fuzz(body: Any) -> None:
            submit(check(body))

        fuzz()

    await on_loop(run)


TAGS = sorted({e.tag for e in ENDPOINTS})


@pytest.mark.parametrize("tag", TAGS)
async def test_hostile_json_is_never_a_500_and_a_refusal_stores_nothing(api: Api, tag: str) -> None:
    await prepared(api)
    ids = await existing_ids(api)
    for endpoint in (e for e in ENDPOINTS if e.tag == tag):
        await fuzz_endpoint(api, endpoint, ids)
    (await (await api.login("dr-township")).get("/api/v1/requests")).ok()  # still serving


def test_every_write_endpoint_is_fuzzed() -> None:
    assert len(ENDPOINTS) > 40
    assert {e.tag for e in ENDPOINTS} <= set(USER_OF_TAG), "a new tag: give it a user"
