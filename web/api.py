"""Endpoints with typed input and output: validation, serialisation and the OpenAPI description
all come from the same declaration.

A view is an ``async def view(call: Call) -> result``; :class:`Endpoints` registers it with its
method, path, body/query models and response type. Input is parsed with pydantic (422 naming the
field on failure); the result is dumped through the response type.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from consult import jsonguard
from consult.center import Center, Work
from consult.principal import Principal
from consult.vocab import Role
from web import keys
from web.errors import ApiError
from web.proxies import client_address

MAX_JSON_BYTES = 1 << 20


@dataclass
class Call:
    """One API call: the request, the caller, the validated input."""

    request: web.Request
    body: Any = None
    query: Any = None

    @property
    def principal(self) -> Principal:
        principal = self.request.get(keys.PRINCIPAL)
        if principal is None:
            raise ApiError(401, "authentication_required", "a bearer token is required")
        return principal

    @property
    def center(self) -> Center:
        return self.request.app[keys.CENTER]

    def path_int(self, name: str) -> int:
        value = int(self.request.match_info[name])
        if not jsonguard.INT_MIN <= value <= jsonguard.INT_MAX:
            raise ApiError(404, "not_found", f"no such {name}: out of range", name)
        return value

    @property
    def client(self) -> str:
        return client_address(self.request)

    @asynccontextmanager
    async def work(self) -> AsyncIterator[Work]:
        async with self.center.work(self.principal, client=self.client) as work:
            yield work


View = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    view: View
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    public: bool = False
    aggregate: bool = False
    """Answers no patient field: the supervisor may call it (and no other endpoint)."""


@dataclass
class Endpoints:
    """A table of endpoints, like ``aiohttp.web.RouteTableDef`` but typed."""

    tag: str
    items: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        public: bool = False,
        aggregate: bool = False,
    ) -> Callable[[View], View]:
        def register(view: View) -> View:
            self.items.append(
                Endpoint(
                    method,
                    path,
                    view,
                    summary,
                    self.tag,
                    body,
                    query,
                    response,
                    status,
                    public,
                    aggregate,
                )
            )
            return view

        return register

    def get(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[View], View]:
        return self.route("DELETE", path, **kw)


async def _parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ApiError(413, "payload_too_large", "JSON bodies are limited to 1 MiB")
    raw = await request.read()
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, "payload_too_large", "JSON bodies are limited to 1 MiB")
    try:
        data = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(422, "invalid_input", "body: JSON nested too deep") from None
    return _validate(model, data)


def _validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(422, "invalid_input", f"{where or 'body'}: {first['msg']}", where) from None
    problem = _model_problem(validated, "")
    if problem:
        where, reason = problem
        raise ApiError(422, "invalid_input", f"{where}: {reason}", where.split(".")[0])
    return validated


def _model_problem(model: BaseModel, prefix: str) -> jsonguard.Problem | None:
    """The first value of a validated input that the database or the encoder would refuse.

    Every free-form dict or list is bounded (depth, items, bytes); every text, integer and date
    anywhere is checked (NUL, lone surrogates, 64-bit range, plausible years).
    """
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            problem = _model_problem(value, f"{path}.")
        elif isinstance(value, list | tuple) and value and isinstance(value[0], BaseModel):
            problem = next(
                (
                    p
                    for i, item in enumerate(value)
                    if (p := _model_problem(item, f"{path}.{i}.")) is not None
                ),
                None,
            )
        elif isinstance(value, dict | list | tuple):
            problem = jsonguard.free_json_problem(value, path)
        else:
            text = jsonguard.scalar_problem(value)
            problem = (path, text) if text else None
        if problem:
            return problem
    return None


def _refuse_supervisor(principal: Principal, endpoint: Endpoint) -> None:
    """The supervisor reads aggregates only: every endpoint not marked ``aggregate`` is
    forbidden, before its input is even read."""
    if principal.role is Role.SUPERVISOR and not endpoint.aggregate:
        raise ApiError(
            403,
            "forbidden",
            "监管账号只能查看统计数据 / the supervisor's account reads aggregate statistics only",
        )


def handler_for(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a view into an aiohttp handler."""
    adapter = TypeAdapter(endpoint.response) if endpoint.response is not None else None

    async def handle(request: web.Request) -> web.StreamResponse:
        call = Call(request)
        if not endpoint.public:
            _refuse_supervisor(call.principal, endpoint)
        if endpoint.body is not None:
            call.body = await _parse_body(request, endpoint.body)
        if endpoint.query is not None:
            call.query = _validate(endpoint.query, dict(request.query))
        result = await endpoint.view(call)
        if isinstance(result, web.StreamResponse):
            return result
        if adapter is None:
            return web.Response(status=204 if result is None else endpoint.status)
        payload = adapter.dump_python(
            adapter.validate_python(result, from_attributes=True), mode="json"
        )
        return web.json_response(payload, status=endpoint.status, dumps=_dumps)

    handle.__name__ = endpoint.view.__name__
    return handle


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def add_endpoints(app: web.Application, tables: list[Endpoints]) -> list[Endpoint]:
    """Register every endpoint of ``tables`` on ``app``; return them (for the OpenAPI builder)."""
    registered = []
    for table in tables:
        for endpoint in table.items:
            app.router.add_route(endpoint.method, endpoint.path, handler_for(endpoint))
            registered.append(endpoint)
    return registered
