"""A regional health platform's FHIR R4 server on loopback: the peer the center asks for a
patient's records elsewhere. Its resources validate as FHIR (fhir.resources, R4B models) when
they are made; a test can make it misbehave (garbage, an error status, slowness, records of
another patient, a search parameter ignored)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from fhir.resources.R4B import get_fhir_model_class

from consult.fhir import RESIDENT_ID_SYSTEM

Json = dict[str, Any]
REGION_SYSTEM = RESIDENT_ID_SYSTEM


def valid(resource: Json) -> Json:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def patient(pid: str, resident_id: str, name: str) -> Json:
    return valid(
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": REGION_SYSTEM, "value": resident_id}],
            "name": [{"text": name}],
        }
    )


def document(rid: str, pid: str, date: str, title: str, org: str, text: str) -> Json:
    return valid(
        {
            "resourceType": "DocumentReference",
            "id": rid,
            "status": "current",
            "docStatus": "final",
            "subject": {"reference": f"Patient/{pid}"},
            "date": date,
            "description": title,
            "custodian": {"display": org},
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": base64.b64encode(text.encode()).decode(),
                    }
                }
            ],
        }
    )


def report(rid: str, pid: str, date: str, code: str, conclusion: str, org: str) -> Json:
    return valid(
        {
            "resourceType": "DiagnosticReport",
            "id": rid,
            "status": "final",
            "code": {"text": code},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": date,
            "performer": [{"display": org}],
            "conclusion": conclusion,
        }
    )


def encounter(rid: str, pid: str, start: str, klass: str, kind: str, org: str) -> Json:
    return valid(
        {
            "resourceType": "Encounter",
            "id": rid,
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": klass,
            },
            "type": [{"text": kind}],
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": start},
            "serviceProvider": {"display": org},
        }
    )


def bundle(resources: list[Json], *, more: bool = False) -> Json:
    out: Json = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if more:
        out["link"] = [{"relation": "next", "url": "http://region.invalid/next"}]
    return out  # its resources were validated as they were made (a test may add a bad one)


@dataclass
class RegionalPeer:
    """The platform's records and how it misbehaves; ``seen`` lists every search it got."""

    patients: list[Json] = field(default_factory=list)
    records: list[Json] = field(default_factory=list)
    leaked: list[Json] = field(default_factory=list)
    """Sent with every record search whatever the patient asked for."""
    raw: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    """Per resource type: a status and body sent instead of a search result."""
    delay: float = 0.0
    ignore_identifier: bool = False
    more: bool = False
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        kind = request.match_info["type"]
        query = dict(request.query)
        self.seen.append((kind, query))
        if self.delay:
            await asyncio.sleep(self.delay)
        if kind in self.raw:
            status, body = self.raw[kind]
            return web.Response(status=status, body=body, content_type="application/fhir+json")
        if kind == "Patient":
            found = [p for p in self.patients if self._has(p, query.get("identifier", ""))]
            return self._send(bundle(found))
        wanted = f"Patient/{query.get('patient', '')}"
        hits = [r for r in self.records if r["resourceType"] == kind]
        hits = [r for r in hits if r["subject"]["reference"] == wanted]
        leaked = [r for r in self.leaked if r["resourceType"] == kind]
        return self._send(bundle(hits + leaked, more=self.more))

    def _has(self, p: Json, identifier: str) -> bool:
        if self.ignore_identifier:
            return True
        system, _, value = identifier.partition("|")
        return any(i["system"] == system and i["value"] == value for i in p["identifier"])

    @staticmethod
    def _send(body: Json) -> web.Response:
        return web.json_response(body, content_type="application/fhir+json")

    def searched(self, kind: str) -> list[dict[str, str]]:
        return [q for k, q in self.seen if k == kind]


@asynccontextmanager
async def serving(peer: RegionalPeer) -> AsyncIterator[str]:
    """The peer on a loopback port; yields its FHIR base URL."""
    app = web.Application()
    app.router.add_get("/fhir/{type}", peer.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/fhir"))
    finally:
        await server.close()
