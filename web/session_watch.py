"""Long-lived sockets end when the credential they were opened with ends.

A socket (the events socket, a room socket) watches its token: it ends on the
:data:`consult.people.SESSION_ENDED` event that names the token or all the user's tokens (logout,
password change, account disabled; carried across nodes by the event bus), or when the token
expires. No socket polls the database.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from consult import people
from consult.center import Center

logger = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4401
"""WebSocket close code (application range) for a socket whose session ended."""


class SessionEnd(enum.Enum):
    REVOKED = "revoked"
    EXPIRED = "expired"


async def session_end(center: Center, token: str, user_id: int) -> SessionEnd:
    """Wait until ``token`` (of ``user_id``) is revoked or expires; return which."""
    digest = people.token_digest(token)
    queue = center.bus.subscribe(user_id)
    try:
        async with center.work(client="socket") as work:  # subscribed first: no revoke is missed
            expires_at = await people.token_expiry(work, token)
        if expires_at is None:
            return SessionEnd.REVOKED
        while True:
            left = (expires_at - center.clock()).total_seconds()
            if left <= 0:
                return SessionEnd.EXPIRED
            try:
                event = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                return SessionEnd.EXPIRED
            if people.ends_session(event.kind, event.payload, digest):
                return SessionEnd.REVOKED
    finally:
        center.bus.unsubscribe(user_id, queue)
