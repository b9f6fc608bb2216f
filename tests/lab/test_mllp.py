"""The MLLP listener over a real loopback socket: ACKs, errors, and a listener that survives
bad framing, oversize messages and clients that leave midway."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from consult.center import Center
from consult.models import Patient, PatientRecordNumber, User
from consult.principal import principal_for
from lab import results
from lab.demo import DEMO_PLACER
from lab.mllp import MllpServer, frame
from lab.tables import LabOrder, LabResult
from tests.lab.helpers import Peer, oru, pid_of

HGB, WBC, PLT, K = "718-7", "6690-2", "777-3", "2823-3"


async def results_of(center: Center, placer: str) -> dict[str, LabResult]:
    async with center.sessions() as session:
        order = await session.scalar(select(LabOrder).where(LabOrder.placer_number == placer))
        assert order is not None
        rows = await session.scalars(select(LabResult).where(LabResult.order_id == order.id))
        return {r.test_code: r for r in rows}


async def test_demo_order_answered_and_errors_reported(
    center: Center, listener: MllpServer
) -> None:
    pid = await pid_of(center, DEMO_PLACER)
    peer = await Peer.connect(listener.port)
    first = oru(DEMO_PLACER, [(HGB, "131"), (WBC, "5.2")], filler="F77", patient_id=pid)
    code, text, ack = await peer.exchange(first)
    assert (code, text) == ("AA", ""), ack
    stored = await results_of(center, DEMO_PLACER)
    assert stored[HGB].status == "preliminary"
    assert stored[HGB].source.startswith("hl7:")
    # the patient is a 68-year-old man: 131 g/L is normal for him
    assert stored[HGB].flag == "N"
    assert stored[HGB].range_text == "130-175"

    # a retransmission (the LIS lost our ACK) stores nothing twice
    assert (await peer.exchange(first))[0] == "AA"
    async with center.sessions() as session:
        rows = await session.scalars(select(LabResult.id).where(LabResult.test_code == HGB))
        assert len(list(rows)) == 1

    # unknown order: AE naming it, nothing stored
    code, text, ack = await peer.exchange(oru("NO-SUCH", [(HGB, "120")], patient_id=pid))
    assert code == "AE"
    assert "unknown order NO-SUCH" in text
    assert "ERR||OBR^1^2|204^Unknown key identifier^HL70357|E" in ack

    # an impossible value is held (AE with the reason); the others in the message are kept
    code, text, ack = await peer.exchange(
        oru(DEMO_PLACER, [(PLT, "180"), (HGB, "900")], patient_id=pid)
    )
    assert code == "AE"
    assert "718-7 held for review" in text
    assert "OBX^2^5" in ack
    stored = await results_of(center, DEMO_PLACER)
    assert stored[PLT].status == "preliminary"
    held = [r for r in stored.values() if r.test_code == HGB and r.status == "held"]
    assert held
    assert held[0].value == "900"

    # the filler number learnt above matches too
    code, _, _ = await peer.exchange(oru("", [(K, "4.1")], filler="F77", patient_id=pid))
    assert code == "AA"
    await peer.close()


async def test_malformed_messages_are_rejected(center: Center, listener: MllpServer) -> None:
    peer = await Peer.connect(listener.port)
    code, text, _ = await peer.exchange("this is not HL7")
    assert code == "AR"
    assert "MSH" in text
    adt = "MSH|^~\\&|HIS|H|TC|C|20261122||ADT^A01|1|P|2.5.1\rPID|1||1\r"
    code, text, ack = await peer.exchange(adt)
    assert code == "AR"
    assert "ADT^A01" in text
    assert "MSA|AR|1|" in ack
    no_obr = "MSH|^~\\&|LIS|L|TC|C|20261122||ORU^R01|2|P|2.5.1\rPID|1||1\rOBX|1|NM|718-7||1\r"
    code, text, _ = await peer.exchange(no_obr)
    assert code == "AR"
    assert "OBX before any OBR" in text
    pid = await pid_of(center, DEMO_PLACER)
    bad_time = oru(DEMO_PLACER, [(HGB, "130")], patient_id=pid).replace("|F|||2", "|F|||x2")
    code, text, _ = await peer.exchange(bad_time)
    assert code == "AR"
    assert "OBX^1" in text
    await peer.close()


async def test_listener_survives_bad_framing_and_broken_clients(
    center: Center, listener: MllpServer
) -> None:
    # a client that leaves in the middle of a frame
    quitter = await Peer.connect(listener.port)
    await quitter.send_raw(b"\x0bMSH|^~\\&|LIS|L|TC|C|2026")
    await quitter.close()
    # a client that connects and drops at once
    (await Peer.connect(listener.port)).writer.transport.abort()

    pid = await pid_of(center, DEMO_PLACER)
    peer = await Peer.connect(listener.port)
    # junk outside frames is skipped; the frame after it is answered
    await peer.send_raw(
        b"garbage before\r\n" + frame(oru(DEMO_PLACER, [(WBC, "7.0")], patient_id=pid).encode())
    )
    assert (await peer.reply()).split("\r")[1].startswith("MSA|AA|")
    # a message split over many writes
    data = frame(oru(DEMO_PLACER, [(PLT, "222")], patient_id=pid).encode())
    for i in range(0, len(data), 7):
        await peer.send_raw(data[i : i + 7])
        await asyncio.sleep(0)
    assert (await peer.reply()).split("\r")[1].startswith("MSA|AA|")
    # an oversize frame gets an AR, and the connection is closed (its sender is broken)
    await peer.send_raw(frame(b"MSH|" + b"x" * (70 * 1024)))
    assert "MSA|AR|" in await peer.reply()
    assert await asyncio.wait_for(peer.reader.read(), 10) == b""
    await peer.close()

    # several clients at once
    async def one(value: str) -> str:
        client = await Peer.connect(listener.port)
        code, _, _ = await client.exchange(oru(DEMO_PLACER, [(K, value)], patient_id=pid))
        await client.close()
        return code

    assert await asyncio.gather(*(one(f"4.{i}") for i in range(4))) == ["AA"] * 4
    stored = await results_of(center, DEMO_PLACER)
    assert stored[PLT].value == "222"


async def test_results_naming_another_patient_are_refused(
    center: Center, listener: MllpServer
) -> None:
    async with center.sessions() as session:
        order = await session.scalar(select(LabOrder).where(LabOrder.placer_number == DEMO_PLACER))
        assert order is not None
        patient = await session.get(Patient, order.patient_id)
        assert patient is not None
        numbers = list(
            await session.scalars(
                select(PatientRecordNumber.number).where(
                    PatientRecordNumber.patient_id == patient.id
                )
            )
        )
    peer = await Peer.connect(listener.port)
    code, text, _ack = await peer.exchange(
        oru(DEMO_PLACER, [(HGB, "140")], patient_id="410101199901010000")
    )
    assert code == "AE"
    assert "is not the patient of this order" in text
    assert HGB not in await results_of(center, DEMO_PLACER)
    for good in (patient.resident_id, numbers[0]):
        code, text, _ = await peer.exchange(oru(DEMO_PLACER, [(HGB, "141")], patient_id=good or ""))
        assert (code, text) == ("AA", "")
    assert (await results_of(center, DEMO_PLACER))[HGB].value == "141"
    await peer.close()


async def release_as_supervisor(center: Center, placer: str) -> None:
    async with center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "lab-supervisor"))
        assert user is not None
        supervisor = await principal_for(session, user)
        order = await session.scalar(select(LabOrder).where(LabOrder.placer_number == placer))
        assert order is not None
    async with center.work(supervisor) as work:
        await results.release(work, order.id)


async def test_released_results_change_only_by_correction(
    center: Center, listener: MllpServer
) -> None:
    """OBX-11 C replaces a stored value (waiting for release like an amendment); F for a released
    test with another value, C for a test never received, D/W/U: refused, nothing stored."""
    pid = await pid_of(center, DEMO_PLACER)
    peer = await Peer.connect(listener.port)
    final = oru(DEMO_PLACER, [(K, "4.1")], patient_id=pid)
    assert (await peer.exchange(final))[0] == "AA"
    await release_as_supervisor(center, DEMO_PLACER)
    assert (await peer.exchange(final))[0] == "AA"  # a resend of what was released: nothing new

    code, text, ack = await peer.exchange(oru(DEMO_PLACER, [(K, "5.0")], patient_id=pid))
    assert code == "AE" and "released; a new value is sent as a correction" in text, ack
    never = oru(DEMO_PLACER, [(HGB, "140")], patient_id=pid, result_status="C")
    code, text, ack = await peer.exchange(never)
    assert code == "AE" and "correction (OBX-11 C) of a result never received" in text, ack
    for status in ("D", "W", "U"):
        code, text, ack = await peer.exchange(
            oru(DEMO_PLACER, [(K, "5.0")], patient_id=pid, result_status=status)
        )
        assert code == "AE" and f"OBX-11 {status}" in text and "ERR||OBX^1^11|" in ack, ack
    rows = await results_of(center, DEMO_PLACER)
    assert [(rows[K].value, rows[K].status)] == [("4.1", "final")]
    assert HGB not in rows

    corrected = oru(DEMO_PLACER, [(K, "5.0")], patient_id=pid, result_status="C")
    assert (await peer.exchange(corrected))[0] == "AA"
    assert (await peer.exchange(corrected))[0] == "AA"  # a resend stores nothing twice
    async with center.sessions() as session:
        k_rows = list(
            await session.scalars(
                select(LabResult).where(LabResult.test_code == K).order_by(LabResult.id)
            )
        )
    assert [(r.value, r.status) for r in k_rows] == [("4.1", "final"), ("5.0", "preliminary")]
    assert k_rows[1].supersedes_id == k_rows[0].id
    assert "OBX-11 C" in k_rows[1].amendment_reason
    await release_as_supervisor(center, DEMO_PLACER)
    assert (await results_of(center, DEMO_PLACER))[K].status == "corrected"
    await peer.close()


async def test_each_result_group_is_checked_against_its_own_pid(
    center: Center, listener: MllpServer
) -> None:
    """Two PATIENT_RESULT groups: the second's OBR is matched with the second PID, so a message
    cannot borrow the first patient's identity for another patient's order."""
    pid = await pid_of(center, DEMO_PLACER)
    good = oru(DEMO_PLACER, [(K, "4.0")], patient_id=pid)
    segments = good.strip().split("\r")
    second = [
        "PID|2||410101199901010000^^^TELECENTER^PI",
        *(s.replace("|4.0|", "|4.4|") for s in segments[2:]),
    ]
    code, text, ack = await (await Peer.connect(listener.port)).exchange(
        "\r".join([*segments, *second])
    )
    assert code == "AE" and "is not the patient of this order" in text, ack
    assert K not in await results_of(center, DEMO_PLACER)  # the good first group is not kept
