"""Files the center keeps (original uploads, recordings): atomic, content-addressed, safe names.

A file is written to a temporary name in its destination directory, flushed, fsynced and renamed
into place, so a crash leaves the whole file or nothing. Names are the SHA-256 of the content,
never anything a sender chose.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

HEX64 = re.compile(r"^[0-9a-f]{64}$")

TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)~[0-9a-f]{32}\.tmp$")
"""``.<final name>.<host>~<pid>~<random>.tmp``: a file being written, and by which process."""

FOREIGN_TEMP_AGE_S = 3600.0
"""A temporary file of another host (a shared store) is an orphan once untouched this long."""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def temp_path(final: Path) -> Path:
    """The name ``final`` is written under before it is linked or renamed into place: hidden, in
    the same directory, naming the writing process so that :func:`sweep_orphans` knows whose it is.
    """
    return final.with_name(f".{final.name}.{_host()}~{os.getpid()}~{uuid.uuid4().hex}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphan(path: Path, host: str, now: float) -> bool:
    match = TEMP_NAME.match(path.name)
    if match and match["host"] == host:
        pid = int(match["pid"])
        return pid != os.getpid() and not _alive(pid)
    try:  # another host's, or a name from before writers were named: by age
        return now - path.stat().st_mtime > FOREIGN_TEMP_AGE_S
    except FileNotFoundError:
        return False


def sweep_orphans(root: Path) -> int:
    """Remove the temporary files whose writer died (a kill, a power cut) under ``root``.

    A file still being written belongs to a live process and stays, so this is safe while other
    processes and nodes write. Returns how many were removed.
    """
    host, now, removed = _host(), time.time(), 0
    for path in root.rglob(".*.tmp"):
        if path.is_file() and _orphan(path, host, now):
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        logger.warning(
            "removed %d half-written file(s) left by a stopped writer under %s", removed, root
        )
    return removed


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class ContentStore:
    """Blobs under ``root`` named by their SHA-256: ``ab/cdef....bin``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def path(self, digest: str) -> Path:
        if not HEX64.match(digest):
            raise ValueError(f"not a SHA-256 digest: {digest[:80]!r}")
        return self.root / digest[:2] / f"{digest[2:]}.bin"

    def put(self, data: bytes) -> str:
        """Store ``data`` (once); return its digest."""
        digest = self.digest(data)
        path = self.path(digest)
        if not path.exists():
            atomic_write(path, data)
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()
