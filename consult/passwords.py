"""Password hashing with Argon2id, off the event loop, on a bounded pool of its own.

Argon2 is slow and memory-hard on purpose, so a flood of sign-ins must not be able to take every
thread the server has: hashes run on ``concurrency`` threads of their own (never the loop's
default executor, which file and database work share), at most ``queue`` more wait for one, and
any beyond are refused at once with :class:`~consult.errors.Busy` rather than queued without end.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from consult.errors import Busy
from consult.policy import PasswordHashing

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
BUSY_RETRY_AFTER_S = 1

T = TypeVar("T")


class Passwords:
    """Hash and verify passwords; the slow work runs on the hashing pool."""

    def __init__(self, params: PasswordHashing) -> None:
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
        )
        self._pool = ThreadPoolExecutor(params.concurrency, thread_name_prefix="argon2")
        self._capacity = params.concurrency + params.queue
        self._outstanding = 0  # submitted and not finished (running or waiting)
        self._lock = threading.Lock()
        self._dummy: str | None = None

    @property
    def outstanding(self) -> int:
        """Hashes running or waiting for a thread now."""
        return self._outstanding

    def check_room(self) -> None:
        """Refuse now if a hash would be refused (before any other work is done for it).

        Raises
        ------
        Busy
            The hashing pool is full.
        """
        if self._outstanding >= self._capacity:
            logger.warning("password hashing busy: %d running or waiting", self._outstanding)
            raise Busy(
                "服务器繁忙, 请稍后再试 / the server is busy checking passwords; "
                f"try again in {BUSY_RETRY_AFTER_S} s",
                retry_after=BUSY_RETRY_AFTER_S,
            )

    async def verify_nobody(self, password: str) -> None:
        """Spend the time of a real check when there is no user, so timing reveals nothing.

        Raises
        ------
        Busy
            The hashing pool is full.
        """
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)

    async def hash(self, password: str) -> str:
        """The Argon2id hash of ``password``.

        Raises
        ------
        ValueError
            Too short.
        Busy
            The hashing pool is full.
        """
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``.

        Raises
        ------
        Busy
            The hashing pool is full.
        """
        try:
            return await self._run(self._hasher.verify, stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def close(self) -> None:
        """Let running hashes finish; refuse new ones."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        with self._lock:
            self.check_room()
            self._outstanding += 1
        try:
            future = self._pool.submit(fn, *args)
        except RuntimeError:  # shut down
            self._finished(None)
            raise Busy("服务器正在停止 / the server is stopping") from None
        # the slot is held until the thread is done, even if the caller stops waiting
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def _finished(self, _: Future[Any] | None) -> None:
        with self._lock:
            self._outstanding -= 1
