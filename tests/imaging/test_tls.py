"""The node's TLS port (PS3.15 Annex B): devices with a certificate from the configured
authority are served; anything else is refused without disturbing the node. pynetdicom and
dcmtk (``+tls``) as the devices, the node with worker processes and with threads."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pynetdicom.sop_class import CTImageStorage, Verification

from tests.conftest import Database
from tests.imaging.conftest import DEVICE, Node, free_port, in_thread, make_ct, running_node, scu
from tests.imaging.test_dcmtk import dcmtk
from tests.imaging.test_node import find


@dataclass(frozen=True)
class Credential:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: Credential
    device: Credential
    stranger: Credential
    """Signed by another authority."""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    directory: Path,
    stem: str,
    common: str,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
) -> tuple[Credential, x509.Name, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common)
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    credential = Credential(directory / f"{stem}.pem", directory / f"{stem}.key")
    credential.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    credential.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return credential, subject, key


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    directory = tmp_path / "pki"
    directory.mkdir()
    ca, ca_name, ca_key = _issue(directory, "ca", "County Imaging CA", None, ca=True)
    _, other_name, other_key = _issue(directory, "other-ca", "Somebody Else", None, ca=True)
    server, _, _ = _issue(directory, "server", "TELECENTER", (ca_name, ca_key))
    device, _, _ = _issue(directory, "device", DEVICE, (ca_name, ca_key))
    stranger, _, _ = _issue(directory, "stranger", DEVICE, (other_name, other_key))
    return Pki(ca.cert, server, device, stranger)


@pytest.fixture(params=[2, 0], ids=["workers", "threads"])
async def tls_node(
    request: pytest.FixtureRequest, seeded_database: Database, tmp_path: Path, pki: Pki
) -> AsyncIterator[Node]:
    async with running_node(
        seeded_database,
        tmp_path,
        request.param,
        dicom_tls_port=free_port(),
        dicom_tls_cert=pki.server.cert,
        dicom_tls_key=pki.server.key,
        dicom_tls_ca=pki.ca,
    ) as running:
        yield running


def client_context(pki: Pki, credential: Credential | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if credential is not None:
        context.load_cert_chain(credential.cert, credential.key)
    return context


def tls_store(node: Node, pki: Pki, credential: Credential | None) -> list[int] | None:
    """Echo, then store one CT, over TLS; ``None`` if no association was made."""
    ae = scu(contexts=[CTImageStorage, Verification])
    try:
        assoc = ae.associate(
            "127.0.0.1",
            node.dicom.tls_port,
            ae_title="TELECENTER",
            tls_args=(client_context(pki, credential), "localhost"),
        )
    except ssl.SSLError:  # refused in the handshake (TLS 1.2 tells the client there)
        return None
    if not assoc.is_established:  # TLS 1.3: refused as the first PDU is read
        return None
    try:
        return [int(assoc.send_c_echo().Status), int(assoc.send_c_store(make_ct()).Status)]
    finally:
        assoc.release()


def plain_to_tls_port(node: Node) -> bytes:
    """An A-ASSOCIATE-RQ-ish first PDU, in clear, to the TLS port: what comes back."""
    with socket.create_connection(("127.0.0.1", node.dicom.tls_port), timeout=10) as sock:
        sock.sendall(b"\x01\x00\x00\x00\x00\x10" + b"\x00" * 16)
        try:
            return sock.recv(64)
        except ConnectionResetError:
            return b""


async def test_devices_with_certificates_are_served_over_tls(tls_node: Node, pki: Pki) -> None:
    assert tls_node.dicom.tls_port not in (0, tls_node.port)
    assert await in_thread(tls_store, tls_node, pki, pki.device) == [0, 0]
    found = await in_thread(find, tls_node.port, "STUDY", {"PatientID": "P0001"})
    assert len(found) == 1


async def test_anything_else_is_refused_and_the_node_stays_up(tls_node: Node, pki: Pki) -> None:
    for credential in (None, pki.stranger):  # no certificate; another authority's
        assert await in_thread(tls_store, tls_node, pki, credential) is None
    reply = await in_thread(plain_to_tls_port, tls_node)
    assert not reply.startswith(b"\x02")  # never an A-ASSOCIATE-AC in clear
    assert await in_thread(tls_store, tls_node, pki, pki.device) == [0, 0]


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("echoscu") is None, reason="dcmtk is not installed")
async def test_dcmtk_over_tls(tls_node: Node, pki: Pki) -> None:
    target = ["-aet", DEVICE, "-aec", "TELECENTER", "127.0.0.1", str(tls_node.dicom.tls_port)]
    tls = ["+tls", str(pki.device.key), str(pki.device.cert), "+cf", str(pki.ca)]
    code, out = await dcmtk("echoscu", *tls, *target)
    assert code == 0, out
    path = tls_node.tmp_path / "ct.dcm"
    make_ct(patient_id="TLS-1").save_as(path, enforce_file_format=True)
    code, out = await dcmtk("storescu", *tls, *target, str(path))
    assert code == 0, out
    code, out = await dcmtk(
        "echoscu",
        "+tls",
        str(pki.stranger.key),
        str(pki.stranger.cert),
        "+cf",
        str(pki.ca),
        *target,
    )
    assert code != 0, out
    found = await in_thread(find, tls_node.port, "STUDY", {"PatientID": "TLS-1"})
    assert len(found) == 1
