"""The instance file store: atomic writes under the data directory, names from checked UIDs.

Files are written to a temporary name in the destination directory, flushed and fsynced, then
renamed into place: a crash leaves either the whole file or nothing under its final name, and the
index is only written after the rename. Names are built from UIDs that passed the UID grammar
(digits and dots), so nothing a sender puts in a dataset can steer a path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from consult.filestore import temp_path

logger = logging.getLogger(__name__)

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
MAX_UID = 64
QUARANTINE = "quarantine"
HELD_SUFFIX = ".dcm-held"
"""Files set aside keep this suffix: start-up recovery looks for ``*.dcm`` only."""


class BadUid(ValueError):
    """A value that is not a DICOM UID (PS3.5 9.1)."""


def check_uid(value: str, what: str = "UID") -> str:
    """Return ``value`` (stripped of the padding NUL/space) if it is a valid UID."""
    value = value.strip().rstrip("\x00").strip()
    if not value or len(value) > MAX_UID or not UID_RE.match(value):
        reason = "empty" if not value else "longer than 64" if len(value) > MAX_UID else "invalid"
        raise BadUid(f"{what} is {reason}: not a valid UID ({value[:80]!r})")
    return value


def is_uid(value: str) -> bool:
    return bool(value) and len(value) <= MAX_UID and UID_RE.match(value) is not None


class FileStore:
    """Instance files under ``root``: ``<2 hex of hash(study)>/<study uid>/<sop uid>.dcm``."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.durable = durable
        root.mkdir(parents=True, exist_ok=True)

    def relative_path(self, study_uid: str, sop_uid: str) -> str:
        study = check_uid(study_uid, "Study Instance UID")
        sop = check_uid(sop_uid, "SOP Instance UID")
        bucket = hashlib.sha256(study.encode()).hexdigest()[:2]
        return f"{bucket}/{study}/{sop}.dcm"

    def path(self, relative: str) -> Path:
        """The absolute path of an indexed file (refuses anything escaping the root)."""
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"path {relative!r} is outside the archive")
        return path

    def exists(self, relative: str) -> bool:
        return self.path(relative).exists()

    def write(self, relative: str, chunks: Iterable[bytes | memoryview]) -> int:
        """Write ``chunks`` atomically to ``relative``; return the size in bytes.

        Never replaces a file: the new one is linked into place (``link(2)`` fails on an
        existing name), and :class:`FileExistsError` says that ``relative`` was already there,
        left as it was. Two writers of one name: exactly one wins, the other learns it.
        """
        final = self.root / relative
        directory = final.parent
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(final)
        size = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                        size += written
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        if self.durable and created:
            # A new directory entry must survive a crash too; in an existing directory the
            # link of an fsynced file is what ext4/xfs order for us (as a rename would be).
            _fsync_dir(directory)
            _fsync_dir(directory.parent)
        return size

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def remove(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)

    def set_aside(self, relative: str) -> Path:
        """Move an instance file out of the archive (never indexed, never recovered as one),
        into ``quarantine/`` under the root; return where it went."""
        source = self.path(relative)
        directory = self.root / QUARANTINE
        directory.mkdir(exist_ok=True)
        target = directory / f"{source.stem}.{uuid.uuid4().hex[:8]}{HELD_SUFFIX}"
        os.replace(source, target)
        return target


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
