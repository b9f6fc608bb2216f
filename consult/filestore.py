"""Files the center keeps (original uploads, recordings): atomic, content-addressed, safe names.

A file is written to a temporary name in its destination directory, flushed, fsynced and renamed
into place, so a crash leaves the whole file or nothing. Names are the SHA-256 of the content,
never anything a sender chose.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
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
