"""Anchors of the audit chain outside the database, so that a cut tail is detected.

The hash chain (:mod:`consult.audit`) holds no secret: whoever can write the database can delete
its last records, or rewrite a record and recompute every later hash, and the chain still
verifies. An *anchor* is the chain's head, ``{seq, hash, at, node}``, signed with an Ed25519 key
kept in a file (never in the database) and written into a directory (never in the database).
The chain must always contain the newest anchor's ``seq`` with the anchored ``hash``: a missing
``seq`` is a cut tail, a different hash a rewritten record.

Anchors only move forward: a new one is written only when the chain still holds the newest one
and has grown past it, so tampering found by the exporter stays on record instead of being
overwritten. Every file read or written here is read or written in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import os
import re
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consult.audit import AuditLog
from consult.filestore import atomic_write, temp_path

logger = logging.getLogger(__name__)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
FILE_NAME = re.compile(r"^anchor-(\d{12})-[0-9a-f]{12}\.json$")
FORMAT = "telecenter-audit-anchor/1"


class AnchorKeyError(ValueError):
    """The anchor key file cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class Anchor:
    """The head of the audit chain at one moment: record ``seq`` had chain hash ``hash``."""

    seq: int
    hash: str
    at: dt.datetime
    node: str

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError(f"anchor seq must be 1 or more, not {self.seq}")
        if not HEX64.match(self.hash):
            raise ValueError(f"anchor hash is not a SHA-256 digest: {self.hash[:80]!r}")
        if self.at.tzinfo is None:
            raise ValueError("anchor time must be timezone-aware")

    def body(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "node": self.node,
        }


def _canonical(body: dict[str, object]) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def encode(anchor: Anchor, key: Ed25519PrivateKey) -> bytes:
    """The signed anchor document: its body and an Ed25519 signature over the canonical body."""
    body = anchor.body()
    signature = base64.b64encode(key.sign(_canonical(body))).decode()
    return json.dumps({"anchor": body, "signature": signature}, indent=1).encode() + b"\n"


def decode(data: bytes, public_key: Ed25519PublicKey) -> Anchor:
    """The anchor in ``data``, if its signature verifies.

    Raises
    ------
    ValueError
        The document is malformed or its signature does not verify with ``public_key``.
    """
    try:
        doc = json.loads(data)
        body, signature = doc["anchor"], base64.b64decode(doc["signature"], validate=True)
        if body.get("format") != FORMAT:
            raise ValueError(f"unknown format {str(body.get('format'))[:40]!r}")
        public_key.verify(signature, _canonical(body))
        return Anchor(
            seq=int(body["seq"]),
            hash=str(body["hash"]),
            at=dt.datetime.fromisoformat(body["at"]),
            node=str(body["node"]),
        )
    except InvalidSignature:
        raise ValueError("signature does not verify (forged, altered, or another key)") from None
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an anchor document ({type(exc).__name__})") from None


# -- the key file --------------------------------------------------------------------------------


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key in ``path``, created (mode 0600) if the file does not exist.

    Nodes starting together create it once: the key is written to a private temporary file and
    hard-linked into place, which fails if another node linked its key first.
    """
    try:
        if not path.exists():
            _create_key(path)
    except OSError as exc:
        raise AnchorKeyError(f"{path}: {exc.strerror}") from None
    return load_key(path)


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
        logger.warning("created the audit anchor key %s: keep it, and keep a copy", path)
    except FileExistsError:
        pass  # another node created it first
    finally:
        tmp.unlink(missing_ok=True)


def load_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM, PKCS#8, unencrypted).

    Raises
    ------
    AnchorKeyError
        The file is missing, unreadable or not such a key.
    """
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise AnchorKeyError(f"{path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("audit anchor key %s is readable by others (mode %o)", path, mode & 0o777)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorKeyError(f"{path} is not an Ed25519 private key (PEM)")
    return key


# -- the directory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorScan:
    """What an anchor directory holds: the anchors whose signature verifies, and the files whose
    signature does not (or that are not anchors), with the reason."""

    anchors: tuple[Anchor, ...]
    bad: tuple[tuple[str, str], ...]

    @property
    def newest(self) -> Anchor | None:
        return max(self.anchors, key=lambda a: a.seq, default=None)


class AnchorDir:
    """The directory of signed anchors (synchronous: call it in a thread)."""

    def __init__(self, root: Path, *, keep: int = 100, durable: bool = True) -> None:
        if keep < 1:
            raise ValueError(f"keep must be 1 or more, not {keep}")
        self.root, self.keep, self.durable = root, keep, durable

    def scan(self, public_key: Ed25519PublicKey | None) -> AnchorScan:
        """Read every anchor file; without a key every file counts as unverifiable."""
        anchors: list[Anchor] = []
        bad: list[tuple[str, str]] = []
        for seq, path in self._files():
            try:
                if public_key is None:
                    raise ValueError("no key to check its signature")
                anchor = decode(path.read_bytes(), public_key)
                if anchor.seq != seq:
                    raise ValueError(f"file name does not match its seq {anchor.seq}")
                anchors.append(anchor)
            except FileNotFoundError:
                continue  # pruned meanwhile by a node sharing the directory
            except (OSError, ValueError) as exc:
                bad.append((path.name, str(exc)))
        return AnchorScan(tuple(anchors), tuple(bad))

    def write(self, anchor: Anchor, key: Ed25519PrivateKey) -> Path:
        """Write ``anchor`` atomically, then remove all but the newest ``keep`` valid anchors."""
        data = encode(anchor, key)
        path = self.root / f"anchor-{anchor.seq:012d}-{uuid.uuid4().hex[:12]}.json"
        atomic_write(path, data, durable=self.durable)
        self._prune(key.public_key())
        return path

    def _files(self) -> list[tuple[int, Path]]:
        """The anchor files, by the seq in their names (other names are not anchors)."""
        if not self.root.is_dir():
            return []
        found = ((FILE_NAME.match(p.name), p) for p in self.root.iterdir())
        return sorted((int(m[1]), p) for m, p in found if m)

    def _prune(self, public_key: Ed25519PublicKey) -> None:
        """Only anchors that verify are pruned: a forged or damaged file stays, as evidence."""
        valid = []
        for seq, path in self._files():
            try:
                if decode(path.read_bytes(), public_key).seq == seq:
                    valid.append(path)
            except (OSError, ValueError):
                continue
        for path in valid[: -self.keep]:
            path.unlink(missing_ok=True)


# -- checking the chain against an anchor ---------------------------------------------------------


@dataclass(frozen=True)
class AnchorCheck:
    """How the chain stands against its newest anchor.

    ``bad_files`` and ``chain_problem`` fail verification; ``warning`` does not (a center that
    has not exported an anchor yet)."""

    anchor: Anchor | None
    head: tuple[int, str] | None
    bad_files: tuple[str, ...] = ()
    chain_problem: str = ""
    warning: str = ""
    chain_code: str = ""
    """What ``chain_problem`` says, for the pages to put in words: ``tail_cut``, ``seq_missing``
    or ``chain_differs``."""

    @property
    def problems(self) -> tuple[str, ...]:
        return self.bad_files + ((self.chain_problem,) if self.chain_problem else ())

    @property
    def ok(self) -> bool:
        return not self.problems


def check_anchor(
    scan: AnchorScan, *, head: tuple[int, str] | None, hash_at_anchor: str | None
) -> AnchorCheck:
    """Check the chain, whose last sealed record is ``head`` (``(seq, hash)``), against the
    newest valid anchor of ``scan``. Pure: no I/O.

    ``hash_at_anchor`` is the chain hash the database holds at the newest anchor's ``seq``
    (``None`` if it holds no such record).
    """
    bad = tuple(f"anchor file {name}: {why}" for name, why in scan.bad)
    anchor = scan.newest
    if anchor is None:
        warning = "" if bad else "no audit anchor exported yet: a cut tail cannot be detected"
        return AnchorCheck(None, head, bad, warning=warning)
    when = anchor.at.astimezone(dt.UTC).isoformat(timespec="seconds")
    head_seq = head[0] if head else 0
    problem = code = ""
    if head_seq < anchor.seq:
        code = "tail_cut"
        problem = (
            f"TAIL CUT: the anchor of {when} holds seq {anchor.seq}, the chain ends at seq "
            f"{head_seq}: {anchor.seq - head_seq} or more sealed records were removed"
        )
    elif hash_at_anchor is None:
        code = "seq_missing"
        problem = f"seq {anchor.seq}, anchored at {when}, is missing from the chain"
    elif hash_at_anchor != anchor.hash:
        code = "chain_differs"
        problem = (
            f"seq {anchor.seq}: the chain differs from the anchor of {when} "
            "(records up to it were rewritten and re-hashed, or removed and replaced)"
        )
    return AnchorCheck(anchor, head, bad, problem, chain_code=code)


async def check_chain_head(
    audit_log: AuditLog, directory: AnchorDir, public_key: Ed25519PublicKey | None
) -> AnchorCheck:
    """Check the database's chain against the newest anchor in ``directory``.

    The anchors are read first: the chain only grows, so an anchor written meanwhile by a
    running server is not mistaken for a cut.
    """
    scan = await asyncio.to_thread(directory.scan, public_key)
    head = await audit_log.head()
    held = await audit_log.hash_at(scan.newest.seq) if scan.newest else None
    return check_anchor(scan, head=head, hash_at_anchor=held)


# -- exporting the head --------------------------------------------------------------------------


class AnchorExporter:
    """Writes the chain's head into an anchor directory, only ever forward."""

    def __init__(
        self, audit_log: AuditLog, directory: AnchorDir, key: Ed25519PrivateKey, node: str
    ) -> None:
        self._audit_log, self._dir, self._key, self._node = audit_log, directory, key, node
        self._lock = asyncio.Lock()

    async def check(self) -> AnchorCheck:
        """The chain against the newest anchor in this exporter's directory."""
        return await check_chain_head(self._audit_log, self._dir, self._key.public_key())

    async def export(self) -> Anchor | None:
        """Anchor the current head; ``None`` if nothing new was sealed, or if the chain no
        longer holds the newest anchor (then nothing is written: that anchor stays as the
        evidence, and the error is logged every round)."""
        async with self._lock:
            check = await self.check()
            if check.problems:
                logger.error("audit chain against its anchors: %s", "; ".join(check.problems))
            if check.chain_problem or check.head is None:
                return None
            if check.anchor is not None and check.head[0] <= check.anchor.seq:
                return None
            seq, digest = check.head
            anchor = Anchor(seq=seq, hash=digest, at=dt.datetime.now(dt.UTC), node=self._node)
            path = await asyncio.to_thread(self._dir.write, anchor, self._key)
            logger.debug("audit chain anchored at seq %s in %s", seq, path)
            return anchor
