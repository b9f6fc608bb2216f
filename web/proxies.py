"""Who the client is and whether it reached us over TLS, behind trusted reverse proxies or not.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the direct peer is one of
the ``trusted_proxies``; anyone else could write them. The client is then the right-most address
of ``X-Forwarded-For`` that is not itself a trusted proxy: each proxy appends the address it saw,
so entries to the left of that one were written by the client and prove nothing.

Every door that needs the client's address (the audit, the sign-in throttle, the access log)
asks :func:`client_address`.
"""

from __future__ import annotations

from aiohttp import web

from lab.mllp_peers import Network, address_of

TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)
CLIENT = web.RequestKey("client", str)
HSTS = "max-age=31536000"


def _trusted(host: str, networks: tuple[Network, ...]) -> bool:
    address = address_of(host)
    return address is not None and any(address in net for net in networks)


def _networks(request: web.BaseRequest) -> tuple[Network, ...]:
    app = getattr(request, "app", None)
    if app is None:
        return ()
    return app.get(TRUSTED_PROXIES, ())


def _forwarded_for(request: web.BaseRequest) -> list[str]:
    joined = ",".join(request.headers.getall("X-Forwarded-For", []))
    return [hop.strip() for hop in joined.split(",") if hop.strip()]


def from_trusted_proxy(request: web.BaseRequest) -> bool:
    """Whether the direct peer is a trusted proxy (so its forwarding headers are believed)."""
    networks = _networks(request)
    return bool(networks) and _trusted(request.remote or "", networks)


def client_address(request: web.BaseRequest) -> str:
    """The client's address: the direct peer, or behind trusted proxies the right-most
    untrusted entry of ``X-Forwarded-For`` (at most 64 characters, as the audit keeps it)."""
    cached = request.get(CLIENT)
    if cached is not None:
        return str(cached)
    client = request.remote or ""
    if from_trusted_proxy(request):
        networks = _networks(request)
        for hop in reversed(_forwarded_for(request)):
            address = address_of(hop)
            if address is None:
                break  # garbage written by someone: the hop that forwarded it is the client
            client = str(address)
            if not any(address in net for net in networks):
                break
    request[CLIENT] = client[:64]
    return client[:64]


def is_secure(request: web.BaseRequest) -> bool:
    """Whether the browser reached us over TLS: directly, or through a trusted proxy that says
    so with ``X-Forwarded-Proto: https`` (the value the nearest proxy wrote)."""
    if request.secure:
        return True
    if not from_trusted_proxy(request):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https"


async def add_hsts(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer over TLS tells browsers to keep using TLS."""
    if is_secure(request):
        response.headers["Strict-Transport-Security"] = HSTS
