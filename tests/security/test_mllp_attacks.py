"""Attacks on the MLLP results door (issue 19, items 6 and 12), over raw loopback sockets against
the real listener as the settings configure it (``web.lab_wiring.results_listener``), on a real
database.

Result injection: an ORU^R01 without PID, naming another patient, for an order whose specimen was
never collected, or with text in numeric fields is refused, and nothing is stored (no result, no
critical alert); a good one is still taken afterwards. The listener: a peer not on the
allow-list, a TLS peer without a client certificate, connections beyond the caps, an
unterminated frame and an oversize frame are closed, while other clients are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from consult.center import Center
from consult.critical_tables import CriticalAlert
from consult.models import AuditRecord, Patient, User
from consult.principal import principal_for
from consult.vocab import Outcome
from lab import orders, specimens
from lab.demo import DEMO_PLACER
from lab.inbound import ResultsInbox
from lab.mllp import START, MllpServer, frame
from lab.tables import LabOrder, LabResult
from tests.conftest import Database, make_settings
from tests.imaging.test_tls import Pki, client_context, pki  # noqa: F401 (the pki fixture)
from tests.lab.conftest import center  # noqa: F401 (the fixture: a seeded center)
from tests.lab.helpers import Peer, oru, patient_of
from web.lab_wiring import results_listener
from web.settings import SettingsError, load_settings

HGB, K = "718-7", "2823-3"
CRITICAL_K = "7.1"  # above the critical limit: an alert if it were ever stored


@asynccontextmanager
async def listening(
    lab: Center, tmp_path: Path, database: Database, **settings: Any
) -> AsyncIterator[MllpServer]:
    """The results listener built from these settings, on a free loopback port."""
    configured = make_settings(tmp_path, database, **settings)
    server = results_listener(configured, ResultsInbox(lab))
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def closed_by_listener(peer: Peer, timeout: float = 10.0) -> bytes:
    """Read until the listener closes the connection; what it sent before closing."""
    received = b""
    try:
        while chunk := await asyncio.wait_for(peer.reader.read(65536), timeout):
            received += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return received


async def stored(lab: Center, placer: str) -> tuple[int, int]:
    """(result rows, critical alerts) of the order ``placer``."""
    async with lab.sessions() as session:
        order = await session.scalar(select(LabOrder).where(LabOrder.placer_number == placer))
        assert order is not None
        rows = await session.scalar(
            select(func.count()).select_from(LabResult).where(LabResult.order_id == order.id)
        )
        alerts = await session.scalar(
            select(func.count())
            .select_from(CriticalAlert)
            .where(CriticalAlert.request_id == order.request_id)
        )
        return int(rows or 0), int(alerts or 0)


async def good_oru(
    lab: Center, placer: str, value: str = "4.2", *, values: list[tuple[str, str]] | None = None
) -> str:
    """A result as a LIS answers our OML: PID-3, PID-5 and PID-7 as we sent them."""
    patient = await patient_of(lab, placer)
    return oru(
        placer,
        values or [(K, value)],
        patient_id=patient.resident_id or str(patient.id),
        patient_name=patient.name,
        birth_date=patient.birth_date,
    )


async def new_order(lab: Center, *, collect: bool) -> tuple[str, int]:
    """A potassium order of dr-village's clinic: (placer number, its specimen's id)."""
    async with lab.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "dr-village"))
        assert user is not None
        doctor = await principal_for(session, user)
        patient_id = await session.scalar(
            select(Patient.id).where(Patient.home_institution_id == doctor.institution_id)
        )
    assert patient_id is not None
    async with lab.work(doctor, client="test") as work:
        order = await orders.create(work, orders.NewOrder(patient_id=patient_id, tests=[K]))
        (specimen,) = (await orders.specimens_of(work, [order.id]))[order.id]
        if collect:
            await specimens.collect(work, specimen.id, collected_at=None, collected_by="nurse")
        return order.placer_number, specimen.id


async def test_results_must_name_the_orders_patient(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    good = await good_oru(center, DEMO_PLACER, CRITICAL_K)
    patient = await patient_of(center, DEMO_PLACER)
    other = await patient_of(center, (await new_order(center, collect=True))[0])
    assert other.id != patient.id and other.resident_id
    pid3 = patient.resident_id or str(patient.id)
    no_pid = "\r".join(s for s in good.split("\r") if not s.startswith("PID"))
    attacks = {
        "no PID": (no_pid, "AR", "no PID segment"),
        "PID without identifier": (
            good.replace(f"PID|1||{pid3}^^^TELECENTER^PI|", "PID|1|||"),
            "AR",
            "PID-3 names no patient identifier",
        ),
        "another patient's identifier": (
            good.replace(pid3, other.resident_id),
            "AE",
            "is not the patient of this order",
        ),
        "the right identifier, another name": (
            good.replace(patient.name, other.name),
            "AE",
            "PID-5",
        ),
    }
    if patient.birth_date:
        born = patient.birth_date.strftime("%Y%m%d")
        attacks["the right identifier, another birth date"] = (
            good.replace(f"||{born}", "||19010101"),
            "AE",
            "PID-7",
        )
    async with listening(center, tmp_path, database) as server:
        peer = await Peer.connect(server.port)
        for name, (message, expected, reason) in attacks.items():
            code, text, ack = await peer.exchange(message)
            assert (code, reason in text) == (expected, True), (name, ack)
            assert "nothing of it was stored" in ack, name
            assert patient.name not in ack and (patient.resident_id or "-") not in ack, name
            assert await stored(center, DEMO_PLACER) == (0, 0), name
        code, text, ack = await peer.exchange(good)  # the real LIS is still served
        assert (code, text) == ("AA", ""), ack
        assert await stored(center, DEMO_PLACER) == (1, 1)
        await peer.close()
    async with center.sessions() as session:
        denied = list(
            await session.scalars(
                select(AuditRecord.detail).where(
                    AuditRecord.action == "lab.results.receive",
                    AuditRecord.outcome == Outcome.DENIED,
                    AuditRecord.patient_id == patient.id,
                )
            )
        )
    assert len(denied) == len(attacks) - 2  # the mismatches reached an order; each is audited
    assert all(d["source"].startswith("hl7:") for d in denied)


async def test_no_results_before_the_specimen_is_collected(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    placer, specimen_id = await new_order(center, collect=False)
    message = await good_oru(center, placer, CRITICAL_K)
    async with listening(center, tmp_path, database) as server:
        peer = await Peer.connect(server.port)
        code, text, ack = await peer.exchange(message)
        assert code == "AE", ack
        assert "no specimen collected yet" in text
        assert await stored(center, placer) == (0, 0)

        async with center.sessions() as session:
            user = await session.scalar(select(User).where(User.username == "dr-village"))
            assert user is not None
            doctor = await principal_for(session, user)
        async with center.work(doctor) as work:
            await specimens.collect(work, specimen_id, collected_at=None, collected_by="nurse")
        code, text, ack = await peer.exchange(message)
        assert (code, text) == ("AA", ""), ack
        assert await stored(center, placer) == (1, 1)
        await peer.close()
    async with center.sessions() as session:
        reasons = list(
            await session.scalars(
                select(AuditRecord.detail).where(
                    AuditRecord.action == "lab.results.store",
                    AuditRecord.outcome == Outcome.DENIED,
                )
            )
        )
    assert [r["reason"] for r in reasons] == ["no specimen collected"]


async def test_text_in_numeric_fields_refuses_the_whole_message(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    with_hgb = await good_oru(center, DEMO_PLACER, values=[(HGB, "131"), (K, CRITICAL_K)])
    assert f"OBX|2|NM|{K}^{K}^LN||{CRITICAL_K}|" in with_hgb
    attacks = {
        "text in NM": (with_hgb.replace(f"||{CRITICAL_K}|", "||abc|"), "OBX^2^5"),
        "NaN in NM": (with_hgb.replace(f"||{CRITICAL_K}|", "||NaN|"), "OBX^2^5"),
        "an exponent in NM": (with_hgb.replace(f"||{CRITICAL_K}|", "||7e0|"), "OBX^2^5"),
        "a comma in NM": (with_hgb.replace(f"||{CRITICAL_K}|", "||7,1|"), "OBX^2^5"),
        "a malformed SN": (
            with_hgb.replace("OBX|2|NM|", "OBX|2|SN|").replace(f"||{CRITICAL_K}|", "||<^x|"),
            "OBX^2^5",
        ),
        "text as ST for a numeric test": (
            with_hgb.replace("OBX|2|NM|", "OBX|2|ST|").replace(f"||{CRITICAL_K}|", "||7,1|"),
            "OBX^2^5",
        ),
    }
    async with listening(center, tmp_path, database) as server:
        peer = await Peer.connect(server.port)
        for name, (message, where) in attacks.items():
            code, _, ack = await peer.exchange(message)
            assert code == "AE", (name, ack)
            assert f"ERR||{where}|" in ack, (name, ack)
            # the valid haemoglobin of the same message is not stored either
            assert await stored(center, DEMO_PLACER) == (0, 0), name
        code, text, ack = await peer.exchange(with_hgb)
        assert (code, text) == ("AA", ""), ack
        assert await stored(center, DEMO_PLACER) == (2, 1)
        await peer.close()


async def test_only_allowed_peers_are_served(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = await good_oru(center, DEMO_PLACER, CRITICAL_K)
    async with listening(
        center, tmp_path, database, mllp_allowed_peers=["127.0.0.1", "10.0.8.0/24"]
    ) as server:
        stranger = await Peer.connect(server.port, source="127.0.0.3")
        with pytest.raises((AssertionError, ConnectionError)):
            await stranger.exchange(message)  # closed before anything is read
        await until(lambda: server.stats.refused == 1)
        assert await stored(center, DEMO_PLACER) == (0, 0)
        assert "127.0.0.3" in caplog.text and "not on the allow-list" in caplog.text
        lis = await Peer.connect(server.port)
        code, _, ack = await lis.exchange(message)
        assert code == "AA", ack
        await lis.close()


async def test_tls_peers_need_a_client_certificate(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
    pki: Pki,  # noqa: F811
) -> None:
    message = await good_oru(center, DEMO_PLACER)
    tls = {"mllp_tls_cert": pki.server.cert, "mllp_tls_key": pki.server.key, "mllp_tls_ca": pki.ca}
    async with listening(center, tmp_path, database, **tls) as server:

        async def over_tls(credential: Any) -> str:
            context = client_context(pki, credential)
            peer = await Peer.connect(server.port, ssl=context, server_hostname="localhost")
            try:
                return (await peer.exchange(message))[0]
            finally:
                peer.writer.transport.abort()

        for credential in (None, pki.stranger):  # no certificate; one of another authority
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
                await over_tls(credential)
        plain = await Peer.connect(server.port)
        await plain.send_raw(frame(message.encode()))
        assert b"MSA" not in await closed_by_listener(plain)
        assert await stored(center, DEMO_PLACER) == (0, 0)
        await until(lambda: server.stats.dropped == 3)
        assert await over_tls(pki.device) == "AA"
        assert await stored(center, DEMO_PLACER) == (1, 0)


async def test_connections_beyond_the_caps_are_closed_while_others_are_served(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    message = await good_oru(center, DEMO_PLACER)
    caps = {"mllp_max_connections_per_peer": 3, "mllp_max_connections": 5}
    async with listening(center, tmp_path, database, **caps) as server:
        held = [await Peer.connect(server.port, source="127.0.0.2") for _ in range(3)]
        await until(lambda: server.gate.open_connections == 3)
        extra = [await Peer.connect(server.port, source="127.0.0.2") for _ in range(20)]
        for peer in extra:
            await closed_by_listener(peer)
        assert server.stats.refused == 20
        assert server.gate.open_connections == 3
        # another LIS is served meanwhile, up to the total cap
        other = [await Peer.connect(server.port, source="127.0.0.4") for _ in range(2)]
        for peer in other:
            assert (await peer.exchange(message))[0] == "AA"
        late = await Peer.connect(server.port, source="127.0.0.5")
        await closed_by_listener(late)
        assert server.stats.refused == 21
        # a held connection is still served; once one closes, its place is free again
        assert (await held[0].exchange(message))[0] == "AA"
        await held[1].close()
        await until(lambda: server.gate.open_connections == 4)
        again = await Peer.connect(server.port, source="127.0.0.2")
        assert (await again.exchange(message))[0] == "AA"
        for peer in [*held[:1], *held[2:], *other, again]:
            await peer.close()


async def test_an_unterminated_frame_is_dropped_after_the_timeout(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    message = await good_oru(center, DEMO_PLACER)
    limits = {"mllp_frame_timeout_seconds": 0.5, "mllp_idle_timeout_seconds": 30}
    async with listening(center, tmp_path, database, **limits) as server:
        idle = await Peer.connect(server.port)
        stalled = await Peer.connect(server.port)
        started = time.monotonic()
        await stalled.send_raw(START + message.encode()[:200])

        async def trickle() -> bytes:  # a byte now and then never completes the message
            peer = await Peer.connect(server.port)
            await peer.send_raw(START)
            closing = asyncio.create_task(closed_by_listener(peer))
            while not closing.done():
                with contextlib.suppress(ConnectionError, OSError):
                    await peer.send_raw(b"x")
                await asyncio.sleep(0.05)
            return closing.result()

        slow = asyncio.create_task(trickle())
        answered = await closed_by_listener(stalled)
        assert time.monotonic() - started >= 0.5
        assert b"MSA|AR|" in answered and b"incomplete" in answered
        assert b"incomplete" in await asyncio.wait_for(slow, 10)  # although it kept sending
        await until(lambda: server.stats.dropped == 2)
        # a connection that sent nothing is not a broken message: it is still served
        assert (await idle.exchange(message))[0] == "AA"
        await idle.close()


async def test_an_oversize_frame_is_refused_without_memory_growth(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    message = await good_oru(center, DEMO_PLACER)
    cap = 64 * 1024
    async with listening(center, tmp_path, database, mllp_max_message_bytes=cap) as server:

        async def flood(payload: bytes) -> bytes:
            peer = await Peer.connect(server.port)
            peer.writer.write(payload)
            with contextlib.suppress(ConnectionError, OSError):
                await asyncio.wait_for(peer.writer.drain(), 10)
            return await closed_by_listener(peer)

        # one byte past the largest frame: the listener read it all, so its AR arrives
        just_over = START + b"MSH|" + b"x" * (cap - 2)
        answer = await flood(just_over)
        assert b"MSA|AR|" in answer and b"message over 65536 bytes" in answer
        # floods: closed once the cap is reached (the rest is never read)
        unterminated = START + b"MSH|" + b"x" * (8 << 20)
        terminated = frame(b"MSH|" + b"y" * (2 * cap))
        # (four at once: the cap per address)
        await asyncio.gather(*(flood(unterminated) for _ in range(3)), flood(terminated))
        await until(lambda: server.stats.dropped == 5)
        assert server.stats.peak_buffered <= cap + 3  # one frame at most, never the flood
        lis = await Peer.connect(server.port)
        assert (await lis.exchange(message))[0] == "AA"
        await lis.close()


def test_mllp_settings_are_checked_at_start(tmp_path: Path) -> None:
    environ = {"TELECENTER_MLLP_ALLOWED_PEERS": "10.0.8.21, 10.0.9.0/24"}
    assert load_settings(environ=environ).mllp_allowed_peers == ["10.0.8.21", "10.0.9.0/24"]
    assert load_settings(environ={}).mllp_allowed_peers == []  # loopback only
    for bad, why in (
        ({"TELECENTER_MLLP_ALLOWED_PEERS": "10.0.8.21,lis.county"}, "'lis.county' is not an IP"),
        ({"TELECENTER_MLLP_TLS_CERT": str(tmp_path / "c.pem")}, "go together"),
        ({"TELECENTER_MLLP_TLS_CA": str(tmp_path / "ca.pem")}, "mllp_tls_ca needs"),
        ({"TELECENTER_MLLP_MAX_CONNECTIONS_PER_PEER": "0"}, "mllp_max_connections_per_peer"),
    ):
        with pytest.raises(SettingsError, match=why):
            load_settings(environ=bad)
