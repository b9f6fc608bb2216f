"""Short-lived TURN credentials by the TURN REST scheme (coturn ``use-auth-secret``).

The server and coturn share ``static-auth-secret``; a participant gets ``username =
f"{expiry}:{user}"`` and ``password = base64(HMAC-SHA1(secret, username))``, valid until ``expiry``
(Unix seconds). Pure functions: the caller passes the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from signaling.protocol import IceServer


@dataclass(frozen=True)
class TurnCredentials:
    username: str
    password: str
    expires_at: int


@dataclass(frozen=True)
class IceConfig:
    """The STUN and TURN servers handed to participants; empty lists mean host candidates only."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    ttl_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.turn_urls and not self.turn_secret:
            raise ValueError("turn_urls need a turn_secret")
        if self.ttl_seconds <= 0:
            raise ValueError(f"invalid ttl_seconds: {self.ttl_seconds!r}")

    def servers_for(self, user: str, now: float) -> tuple[IceServer, ...]:
        """The ICE server list for one participant, TURN credentials minted for ``user``."""
        servers: list[IceServer] = []
        if self.stun_urls:
            servers.append(IceServer(urls=self.stun_urls))
        if self.turn_urls:
            creds = mint_credentials(self.turn_secret, user, now, self.ttl_seconds)
            servers.append(
                IceServer(urls=self.turn_urls, username=creds.username, credential=creds.password)
            )
        return tuple(servers)


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def mint_credentials(secret: str, user: str, now: float, ttl_seconds: int) -> TurnCredentials:
    if not secret:
        raise ValueError("empty TURN secret")
    if ":" in user or not user:
        raise ValueError(f"invalid TURN user: {user!r}")
    expiry = int(now) + ttl_seconds
    username = f"{expiry}:{user}"
    return TurnCredentials(username, turn_password(secret, username), expiry)


def verify_credentials(secret: str, username: str, password: str, now: float) -> bool:
    """What coturn checks: the password matches and the expiry is still ahead."""
    expiry, _, user = username.partition(":")
    if not expiry.isdigit() or not user or int(expiry) <= int(now):
        return False
    return hmac.compare_digest(turn_password(secret, username), password)
