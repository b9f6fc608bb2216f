"""Settings: a TOML file, then ``TELECENTER_*`` environment variables, then command-line flags.

Everything is validated at start; an error names the setting and where it came from.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from consult.fhir import RESIDENT_ID_SYSTEM
from consult.policy import (
    DEFAULT_TURNAROUND_MINUTES,
    PasswordHashing,
    Policy,
    SecondReadingRule,
)
from consult.retention import Retention
from consult.vocab import Priority, RequestKind
from lab.mllp_peers import Network, parse_networks

ENV_PREFIX = "TELECENTER_"


class SettingsError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


class SecondReadingSetting(BaseModel):
    """A second reading before release for one kind (``[second_reading.ecg_read]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    priorities: list[Priority] = Field(default_factory=list)
    sample_percent: float = Field(0.0, ge=0, le=100)

    def rule(self) -> SecondReadingRule:
        return SecondReadingRule(frozenset(self.priorities), self.sample_percent)


class RegionalFhirSetting(BaseModel):
    """The regional health platform's FHIR R4 server (``[telecenter.regional_fhir]``), asked
    for a patient's records elsewhere when a reader opens the record with the patient's consent
    (:mod:`consult.regional`). It stands inside the health network, like every peer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    """The server's base URL (``http://10.0.9.4/fhir``)."""
    name: str = Field("", max_length=100)
    """What the pages call it (empty: "the regional platform")."""
    token: str = Field("", repr=False)
    """A bearer token the center presents, if the platform asks for one."""
    identifier_system: str = Field(RESIDENT_ID_SYSTEM, min_length=1, max_length=200)
    """The system of the resident ID in the platform's ``Patient.identifier``."""
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    """Per search; the reader waits for at most twice this (the patient, then the records)."""
    max_response_kb: int = Field(2048, ge=16, le=65536)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) > 500:
            raise ValueError("regional_fhir.url must be an http:// or https:// URL")
        return value.rstrip("/")


class Settings(BaseModel):
    """Every setting of a telecenter server, with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("var")
    database_url: str = ""
    database_schema: str = ""
    sqlite_busy_timeout_seconds: float = Field(10.0, gt=0, le=600)
    """Embedded database: how long a write waits for another process's lock before the request
    is answered 503 (try again)."""
    sqlite_writer_wait_seconds: float = Field(60.0, gt=0, le=600)
    """Embedded database: how long a write waits for the writers queued before it in this
    process (one at a time, first come first served) before the request is answered 503."""
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    tls_cert: Path | None = None
    """With ``tls_key``: the HTTP port speaks HTTPS only (TLS 1.2 or later), with HSTS."""
    tls_key: Path | None = None
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or networks of the reverse proxies in front of the server; only a request from
    one of them has its ``X-Forwarded-For`` and ``X-Forwarded-Proto`` believed. Empty: none."""
    dicom_aet: str = "TELECENTER"
    dicom_port: int = Field(11112, ge=0, le=65535)
    dicom_host: str = "127.0.0.1"
    dicom_max_pdu: int = Field(4 * 1024 * 1024, ge=16384)
    dicom_max_data_set_mb: int = Field(512, ge=1, le=4095)
    """The largest data set a C-STORE (any DIMSE message) may carry, in MiB: an association
    whose P-DATA for one message passes it is aborted at once, before more is buffered. Each
    association holds its message in memory: ``dicom_max_associations`` times this bounds it."""
    dicom_fsync: bool = True
    dicom_workers: int | None = Field(None, ge=0, le=32)
    """Node worker processes (0: associations on threads of the server process; unset: one per
    CPU, up to four, or none on a single CPU)."""
    dicom_max_associations: int = Field(16, ge=1, le=1024)
    """Associations the node serves at once (counted from their A-ASSOCIATE-RQ)."""
    dicom_max_associations_per_peer: int = Field(8, ge=1, le=1024)
    """Connections one address may hold open at once (associated, or still negotiating)."""
    dicom_max_connections: int = Field(64, ge=1, le=4096)
    """Connections open at once in all, associated or still negotiating."""
    dicom_artim_seconds: float = Field(10.0, gt=0, le=600)
    """ARTIM timer (PS3.8): a connection whose A-ASSOCIATE-RQ is not whole this long after it
    opened is closed; also how long an aborted or rejected peer gets to close."""
    dicom_network_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    """An association idle this long is aborted, and so is one whose PDU is not whole this long
    after its first byte."""
    dicom_tls_port: int = Field(0, ge=0, le=65535)
    """A second DICOM port speaking TLS (PS3.15 Annex B; 2762 by convention); 0: none."""
    dicom_tls_cert: Path | None = None
    dicom_tls_key: Path | None = None
    dicom_tls_ca: Path | None = None
    """If set, devices on the TLS port must present a certificate this authority signed."""
    dicom_stop_grace_seconds: float = Field(5.0, ge=0, le=60)
    """On shutdown, running associations get this long to finish; the rest are aborted."""
    http_stop_grace_seconds: float = Field(3.0, ge=0, le=60)
    """On shutdown, HTTP requests still running after the rooms, sockets and listeners have
    closed get this long to finish. With ``dicom_stop_grace_seconds`` it bounds how long a
    stopping server takes (under 10 s with the defaults)."""
    mllp_port: int = Field(2575, ge=0, le=65535)
    mllp_host: str = "127.0.0.1"
    mllp_allowed_peers: list[str] = Field(default_factory=list)
    """Addresses or networks (``10.0.8.21``, ``10.0.8.0/24``) of the LIS and analysers the MLLP
    listener serves; empty: loopback only. Others are closed at once and logged."""
    mllp_tls_cert: Path | None = None
    """With ``mllp_tls_key``: the MLLP listener speaks TLS only."""
    mllp_tls_key: Path | None = None
    mllp_tls_ca: Path | None = None
    """If set, every MLLP peer must present a client certificate this authority signed."""
    mllp_max_connections: int = Field(64, ge=1, le=10000)
    mllp_max_connections_per_peer: int = Field(4, ge=1, le=1000)
    mllp_max_message_bytes: int = Field(1 << 20, ge=4096, le=64 << 20)
    mllp_frame_timeout_seconds: float = Field(10.0, gt=0, le=600)
    """From a message's first byte to its end block (and for a TLS handshake)."""
    mllp_idle_timeout_seconds: float = Field(300.0, gt=0)
    metrics_token: str = Field("", repr=False)
    """The bearer token a Prometheus scraper presents on ``/metrics`` (16 characters or more);
    empty: only a signed-in administrator may read the metrics."""
    audit_anchor_key: Path | None = None
    """The Ed25519 key (PEM) that signs the audit chain's anchors; never in the database.
    Created (mode 0600) at the first start if absent. Default: ``data_dir/audit-anchor.key``;
    nodes sharing an anchor directory share the key."""
    audit_anchor_dir: Path | None = None
    """Where the signed anchors of the audit chain's head are written (not in the database).
    Default: ``data_dir/audit-anchors``."""
    audit_anchor_seconds: float = Field(60.0, gt=0, le=86400)
    """How often the chain's head is anchored (and once more at shutdown)."""
    audit_anchor_keep: int = Field(100, ge=1, le=100000)
    """How many of the newest valid anchors are kept."""
    demo: bool = False
    log_level: str = "INFO"
    token_ttl_minutes: int = Field(720, ge=1)
    lockout_threshold: int = Field(5, ge=1)
    lockout_minutes: int = Field(15, ge=1)
    login_failures_per_minute: int = Field(20, ge=1)  # per user name and per client address
    verify_misses_per_minute: int = Field(10, ge=1)
    """Unknown codes one client address may try on the public ``/verify`` page per minute; more
    are answered ``429`` with ``Retry-After``, so the page cannot be used to guess codes."""
    override_minutes: int = Field(240, ge=1)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=64)
    argon2_parallelism: int = Field(4, ge=1)
    password_hash_concurrency: int | None = Field(None, ge=1, le=64)
    """Password hashes computed at once, on threads of their own (unset: one per CPU, up to
    four)."""
    password_hash_queue: int = Field(64, ge=0, le=10000)
    """Password checks waiting beyond those; more are refused at once (503, ``Retry-After``).
    Enough for a shift of 50 clinic workstations signing in at once (``bench/load.py``): a
    waiting check holds no Argon2 memory, and 64 wait about 3 s on two cores."""
    turnaround_minutes: dict[RequestKind, dict[Priority, int]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_TURNAROUND_MINUTES.items()}
    )
    second_reading: dict[RequestKind, SecondReadingSetting] = Field(default_factory=dict)
    """Per kind: the priorities always read twice and the percentage of the others sampled."""
    overdue_check_seconds: float = Field(30.0, gt=0)
    worker_processes: int = Field(2, ge=1, le=64)
    worker_kind: Literal["process", "thread"] = "process"
    max_upload_mb: int = Field(64, ge=1)
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str = ""
    turn_ttl_seconds: int = Field(3600, ge=60)
    room_connect_timeout_seconds: float = Field(15.0, gt=0)
    events_url: str = ""
    """A Redis URL (``redis://host:6379/0``) that carries live events between nodes; empty: one
    node, events stay in the process."""
    events_channel: str = Field("telecenter:events", min_length=1, max_length=200)
    """The Redis channel of this center's events (one per center sharing a Redis server); also
    the prefix of its room leases."""
    node_url: str = ""
    """This node's URL as the other nodes reach it (rooms are relayed to the node that hosts
    them); empty: ``http://host:port``."""
    public_url: str = ""
    """The center's address as a patient's phone reaches it, printed in the reports' QR codes
    (``https://center.example``); empty: the scheme and host of the request that printed."""
    lis_host: str = ""
    lis_port: int = Field(0, ge=0, le=65535)
    critical_ack_minutes: int = Field(15, ge=1)
    # -- critical alerts: how often the escalation loop looks (critical_ack_minutes: how long) --
    critical_check_seconds: float = Field(30.0, gt=0)
    lis_retry_seconds: float = Field(2.0, gt=0)
    # -- HL7 results out: signed reports to each clinic's HIS (its endpoint is on the
    # institution: consult.institutions.set_his_endpoint) --
    his_outbox: bool = True
    """Deliver the HIS outbox from this node (messages are queued either way)."""
    his_poll_seconds: float = Field(5.0, gt=0, le=3600)
    his_backoff_seconds: float = Field(5.0, ge=0, le=3600)
    """The wait after a failed try, doubled each try up to ``his_backoff_max_seconds``."""
    his_backoff_max_seconds: float = Field(3600.0, gt=0, le=86400)
    ecg_brady_bpm: float = Field(40.0, ge=10)
    ecg_tachy_bpm: float = Field(150.0, le=350)
    ecg_pause_s: float = Field(3.0, ge=1, le=20)
    ecg_af_rvr_bpm: float = Field(110.0, ge=60, le=250)
    ecg_max_duration_hours: float = Field(48.0, gt=0, le=168)
    """The longest recording an upload may hold (a 250 KB zip of zeros can declare 100 h)."""
    ecg_max_expanded_mb: int = Field(256, ge=1, le=4096)
    """The most an ECG upload may expand to (a zip or a deflated DICOM data set once inflated),
    and the size of its decoded samples counted at 16 bits each."""
    # -- retention (telecenter purge) --
    retention_report_years: int = Field(15, ge=15, le=100)
    """Closed requests with their reports, ECGs and recordings are kept this long after they
    closed (the law asks 15 years; only a longer time can be set)."""
    retention_image_years: int = Field(15, ge=15, le=100)
    """Imaging studies are kept this long after their last instance arrived."""
    retention_log_months: int = Field(6, ge=6, le=1200)
    """Audit records are kept this long (the law asks six months); older sealed ones are purged
    behind a checkpoint the chain itself records."""
    regional_fhir: RegionalFhirSetting | None = None
    """The regional platform asked for a patient's records elsewhere; unset: none."""
    # -- ui --
    timezone: str = "Asia/Shanghai"
    """The center's time zone (IANA name): the pages show every time as local time there."""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name like Asia/Shanghai)"
            ) from None
        return value

    # -- end ui --

    @field_validator("dicom_aet")
    @classmethod
    def _aet(cls, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= 16 or not value.isascii() or "\\" in value:
            raise ValueError("an AE title is 1-16 ASCII characters without backslash")
        return value

    @model_validator(mode="after")
    def _dicom_limits(self) -> Settings:
        if self.dicom_max_connections < self.dicom_max_associations:
            raise ValueError("dicom_max_connections must be at least dicom_max_associations")
        return self

    @model_validator(mode="after")
    def _tls(self) -> Settings:
        if self.dicom_tls_port and not (self.dicom_tls_cert and self.dicom_tls_key):
            raise ValueError("dicom_tls_port needs dicom_tls_cert and dicom_tls_key")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if bool(self.mllp_tls_cert) != bool(self.mllp_tls_key):
            raise ValueError("mllp_tls_cert and mllp_tls_key go together")
        if self.mllp_tls_ca and not self.mllp_tls_cert:
            raise ValueError("mllp_tls_ca needs mllp_tls_cert and mllp_tls_key")
        return self

    @field_validator("mllp_allowed_peers", "trusted_proxies")
    @classmethod
    def _peers(cls, value: list[str]) -> list[str]:
        entries = [v.strip() for v in value if v.strip()]
        parse_networks(entries)  # raises naming the bad entry
        return entries

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("database_url must be sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("events_url must be redis://, rediss:// or unix://")
        return value

    @field_validator("node_url")
    @classmethod
    def _node_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("node_url must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def node_address(self) -> str:
        """The URL other nodes use to reach this one."""
        scheme = "https" if self.tls_cert else "http"
        return self.node_url or f"{scheme}://{self.host}:{self.port}"

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str) -> str:
        value = value.strip()
        if value and (len(value) < 16 or not value.isascii() or not value.isprintable()):
            raise ValueError("metrics_token must be 16 or more printable ASCII characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return value

    @property
    def db_url(self) -> str:
        """The database URL; by default the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'telecenter.db').resolve()}"

    @property
    def anchor_key_path(self) -> Path:
        """The audit anchor key file."""
        return self.audit_anchor_key or self.data_dir / "audit-anchor.key"

    @property
    def anchor_dir_path(self) -> Path:
        """The directory of the audit chain's anchors."""
        return self.audit_anchor_dir or self.data_dir / "audit-anchors"

    def proxy_networks(self) -> tuple[Network, ...]:
        """The parsed ``trusted_proxies``."""
        return parse_networks(self.trusted_proxies)

    def dicom_worker_count(self) -> int:
        """How many node worker processes serve the DICOM associations."""
        if self.dicom_workers is not None:
            return self.dicom_workers
        cpus = _cpus()
        return 0 if cpus < 2 else min(cpus, 4)

    def password_hash_threads(self) -> int:
        """How many password hashes are computed at once."""
        if self.password_hash_concurrency is not None:
            return self.password_hash_concurrency
        return min(_cpus(), 4)

    def retention(self) -> Retention:
        return Retention(
            report_years=self.retention_report_years,
            image_years=self.retention_image_years,
            log_months=self.retention_log_months,
        )

    def policy(self) -> Policy:
        return Policy(
            turnaround_minutes=self.turnaround_minutes,
            token_ttl=dt.timedelta(minutes=self.token_ttl_minutes),
            lockout_threshold=self.lockout_threshold,
            lockout_duration=dt.timedelta(minutes=self.lockout_minutes),
            override_duration=dt.timedelta(minutes=self.override_minutes),
            timezone=self.timezone,
            second_reading={kind: rule.rule() for kind, rule in self.second_reading.items()},
            password_hashing=PasswordHashing(
                time_cost=self.argon2_time_cost,
                memory_cost_kib=self.argon2_memory_kib,
                parallelism=self.argon2_parallelism,
                concurrency=self.password_hash_threads(),
                queue=self.password_hash_queue,
            ),
        )


def _cpus() -> int:
    """The CPUs this process may run on."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cpus or 1


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    fields = Settings.model_fields
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in fields:
            continue  # TELECENTER_TEST_* and the like belong to other tools
        annotation = str(fields[name].annotation)
        values[name] = raw.split(",") if annotation.startswith("list") else raw
    return values


def load_settings(
    config: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the TOML file, the environment and explicit overrides, and validate.

    Raises
    ------
    SettingsError
        Naming each invalid setting.
    """
    values: dict[str, Any] = {}
    if config is not None:
        try:
            with config.open("rb") as fh:
                values.update(tomllib.load(fh).get("telecenter", {}))
        except FileNotFoundError:
            raise SettingsError(f"config file {config} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config} is not valid TOML: {exc}") from None
    values.update(_from_env(os.environ if environ is None else environ))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        settings = Settings.model_validate(values)
        settings.policy()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    except ValueError as exc:
        raise SettingsError(f"invalid settings: {exc}") from None
    return settings
