"""Issue 18: HTTPS on the HTTP port (``tls_cert``/``tls_key``), HSTS, the events socket over wss.

The real ``telecenter serve`` runs as a subprocess with a self-signed certificate made here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import DEMO_PASSWORD
from tests.core.test_serve import free_port
from web.settings import SettingsError, load_settings

HSTS = "max-age=31536000"


def _pair(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _env(cert: Path, key: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TELECENTER_TLS_CERT": str(cert),
        "TELECENTER_TLS_KEY": str(key),
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
        "TELECENTER_WORKER_KIND": "thread",
    }


def _serve(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "web.cli", "serve", "--demo", "--data-dir"]
    command += [str(tmp_path / "var"), "--port", str(port), "--dicom-port", "0", "--mllp-port", "0"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"server exited early: {stderr}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as r:  # loopback only
                assert r.headers["Strict-Transport-Security"] == HSTS
                return
        except OSError:
            time.sleep(0.1)  # polling the server's start-up, not synchronising on a guess
    raise AssertionError("server did not become healthy over https")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ssl.SSLContext]]:
    """One server for the module's tests (its start-up is most of their time)."""
    tmp_path = tmp_path_factory.mktemp("tls")
    cert, key = _pair(tmp_path, "server")
    trust = ssl.create_default_context(cafile=str(cert))
    port = free_port()
    proc = _serve(tmp_path, _env(cert, key), port)
    try:
        _wait_healthy(f"https://127.0.0.1:{port}/healthz", proc, trust)
        yield f"https://127.0.0.1:{port}", trust
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_login_hsts_and_events_over_wss(tls_server: tuple[str, ssl.SSLContext]) -> None:
    base, trust = tls_server
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
        async with http.post(
            f"{base}/api/v1/auth/login",
            json={"username": "dr-village", "password": DEMO_PASSWORD},
        ) as r:
            assert r.status == 200, await r.text()
            assert r.headers["Strict-Transport-Security"] == HSTS
            assert all("secure" in c.lower() for c in r.headers.getall("Set-Cookie"))
            token = (await r.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/api/v1/notifications", headers=headers) as r:
            assert r.status == 200
            assert r.headers["Strict-Transport-Security"] == HSTS
        async with http.get(f"{base}/api/v1/nothing-here", headers=headers) as r:
            assert r.status == 404 and r.headers["Strict-Transport-Security"] == HSTS
        wss = base.replace("https://", "wss://")
        async with http.ws_connect(f"{wss}/api/v1/events", headers=headers) as ws:
            hello = json.loads((await ws.receive(timeout=10)).data)
            assert hello == {"type": "hello", "user": "dr-village"}


def test_plain_http_is_refused_on_the_tls_port(tls_server: tuple[str, ssl.SSLContext]) -> None:
    base, _ = tls_server
    with pytest.raises(OSError):
        urllib.request.urlopen(base.replace("https", "http") + "/healthz", timeout=5)


def test_tls_below_1_2_is_refused(tls_server: tuple[str, ssl.SSLContext]) -> None:
    base, _ = tls_server
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/healthz", timeout=5, context=old)


@pytest.mark.parametrize("problem", ["mismatched", "missing", "not_pem"])
def test_bad_certificate_stops_start_up_clearly(tmp_path: Path, problem: str) -> None:
    cert, key = _pair(tmp_path, "server")
    _, other_key = _pair(tmp_path, "other")
    if problem == "mismatched":
        key = other_key
    elif problem == "missing":
        key = tmp_path / "absent.key"
    else:
        cert.write_text("not a certificate\n")
    proc = _serve(tmp_path, _env(cert, key), free_port())
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    message = stderr.decode()
    assert "telecenter: tls_" in message, message
    assert "Traceback" not in message
    if problem == "missing":
        assert f"cannot read {key}" in message
    assert not (tmp_path / "var").exists()  # refused before anything started


def test_cert_and_key_go_together() -> None:
    with pytest.raises(SettingsError, match="tls_cert and tls_key go together"):
        load_settings(environ={"TELECENTER_TLS_CERT": "/etc/telecenter/server.crt"})
