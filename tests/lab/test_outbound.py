"""Orders to the LIS: queued with the order, kept while the LIS is down, delivered after."""

from __future__ import annotations

from sqlalchemy import select

from consult.center import Center
from consult.models import Patient, User
from consult.principal import principal_for
from lab import orders, outbound
from lab.hl7 import build_ack, parse
from lab.mllp import MllpClient, MllpServer
from lab.tables import LisOutbound
from tests.lab.helpers import free_port


async def test_outbox_survives_a_lis_that_is_down(center: Center) -> None:
    async with center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "dr-township"))
        assert user is not None
        doctor = await principal_for(session, user)
        patient_id = await session.scalar(
            select(Patient.id).where(Patient.home_institution_id == doctor.institution_id)
        )
    async with center.work(doctor) as work:
        order = await orders.create(
            work, orders.NewOrder(patient_id=patient_id or 0, tests=["24331-1", "4548-4"])
        )
        await outbound.enqueue(work, order)

    port = free_port()
    client = MllpClient("127.0.0.1", port, timeout=2, retries=1, backoff=0.01)
    assert await outbound.deliver_pending(center, client) == 0
    async with center.sessions() as session:
        row = await session.scalar(select(LisOutbound))
        assert row is not None
        assert row.sent_at is None
        assert row.attempts == 1
        assert "unreachable" in row.last_error

    received: list[str] = []

    async def lis(raw: bytes, peer: str) -> bytes:
        received.append(raw.decode())
        return build_ack(parse(raw.decode()), "AA").encode()

    server = MllpServer(lis)
    await server.start("127.0.0.1", port)
    try:
        assert await outbound.deliver_pending(center, client) == 1
        assert await outbound.deliver_pending(center, client) == 0  # sent once only
    finally:
        await client.close()
        await server.stop()
    message = parse(received[0])
    assert str(message.segment("MSH")(9)) == "OML^O21^OML_O21"
    assert [str(s(4)(1)(1)) for s in message.segments("OBR")] == ["24331-1", "4548-4"]
    assert {str(s(2)) for s in message.segments("ORC")} == {order.placer_number}
    assert len(message.segments("SPM")) == 2  # serum and EDTA blood
