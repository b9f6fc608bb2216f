"""The OpenAPI 3.1 description, generated from the registered endpoints and their models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from web.api import Endpoint

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"\{(\w+)(?::([^}]*))?\}")


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The schema of ``tp``; every model goes into the components and is referenced."""
    schema = TypeAdapter(tp).json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        components[tp.__name__] = schema
        return {"$ref": REF.format(model=tp.__name__)}
    return schema


def build_openapi(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for ep in endpoints:
        path = PATH_PARAM.sub(r"{\1}", ep.path)
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.tag}_{ep.view.__name__}",
        }
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if rx == r"\d+" else "string"},
            }
            for name, rx in PATH_PARAM.findall(ep.path)
        ]
        if ep.query is not None:
            qschema = TypeAdapter(ep.query).json_schema(ref_template=REF)
            components.update(qschema.pop("$defs", {}))
            params += [
                {
                    "name": name,
                    "in": "query",
                    "required": name in qschema.get("required", []),
                    "schema": prop,
                }
                for name, prop in qschema.get("properties", {}).items()
            ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(ep.body, components)}},
            }
        responses: dict[str, Any] = {}
        if ep.response is not None:
            responses[str(ep.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": _schema(ep.response, components)}},
            }
        else:
            responses["204"] = {"description": "Done"}
        responses["default"] = {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
        op["responses"] = responses
        if not ep.public:
            op["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[ep.method.lower()] = op
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
