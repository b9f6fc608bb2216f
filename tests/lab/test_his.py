"""Signed reports out to each clinic's HIS over MLLP (ORU^R01, MDM^T02/T10): an HIS written
in the test receives and ACKs; refused connections, AE/AR answers and amendments."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import hl7
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from consult import institutions, reports
from consult import requests as requests_
from consult.center import Center, Work
from consult.db import make_engine, make_session_factory
from consult.errors import Conflict
from consult.models import Institution, Patient, Report, User
from consult.policy import PasswordHashing, Policy
from consult.principal import Principal, principal_for
from consult.vocab import RequestKind
from lab import his, results
from lab.demo import DEMO_PLACER
from lab.results import Observation
from lab.tables import HisOutbound, LabOrder
from tests.conftest import Database, SeededTemplates
from tests.lab.helpers import free_port
from tests.lab.his_peer import FakeHis, fields

HGB, WBC = "718-7", "6690-2"
TEXT = "窦性心律 | 心率 72^次/分 & ST段~正常 \\ 无异常"
LATER = dt.timedelta(days=2)


async def _center(url: str, schema: str = "") -> Center:
    engine = make_engine(url, schema=schema or None)
    center = Center(
        make_session_factory(engine), policy=Policy(password_hashing=PasswordHashing(1, 1024, 1))
    )
    center.report_hooks.append(his.enqueue)
    return center


@pytest.fixture
async def center(seeded_templates: SeededTemplates, tmp_path: Path) -> AsyncIterator[Center]:
    """A copy of the seeded demo on SQLite, with the HIS outbox hooked to signing."""
    source = Path(make_url(seeded_templates.get("sqlite").url).database or "")
    shutil.copyfile(source, tmp_path / "his.db")
    center = await _center(f"sqlite+aiosqlite:///{tmp_path / 'his.db'}")
    yield center
    await center.sessions.kw["bind"].dispose()


async def who(center: Center, username: str) -> Principal:
    async with center.sessions() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        return await principal_for(session, user)


async def connect(center: Center, code: str, port: int) -> int:
    async with center.work() as work:
        clinic = await institutions.by_code(work, code)
        await institutions.set_his_endpoint(work, clinic.id, host="127.0.0.1", port=port)
        return clinic.id


async def signed_ecg(center: Center, clinic_user: str, text: str = TEXT) -> tuple[int, str]:
    """A clinic asks for an ECG read; the county reader signs it."""
    doctor = await who(center, clinic_user)
    async with center.work(doctor) as work:
        patient_id = await work.session.scalar(
            select(Patient.id).where(Patient.home_institution_id == doctor.institution_id)
        )
        request = await requests_.create(
            work,
            requests_.NewRequest(patient_id=patient_id or 0, kind=RequestKind.ECG_READ),
        )
    async with center.work(await who(center, "ecg-reader")) as work:
        await requests_.accept(work, request.id)
        draft = await reports.write_draft(
            work, request.id, findings=text, impression="正常心电图\n建议随访"
        )
        signed = await reports.sign(work, draft.id)
        return signed.id, request.identifier


async def outbox(center: Center) -> list[HisOutbound]:
    async with center.sessions() as session:
        return list(await session.scalars(select(HisOutbound).order_by(HisOutbound.id)))


async def test_reports_reach_their_own_clinics_his(center: Center) -> None:
    """Two clinics, two HIS: each receives only its patients' reports, as MDM^T02 with the text
    escaped and in UTF-8; the amendment goes as MDM^T10 naming the version it replaces."""
    xihe, liujia = FakeHis("th-xihe"), FakeHis("vc-liujia")
    await connect(center, "th-xihe", await xihe.start())
    await connect(center, "vc-liujia", await liujia.start())
    clients = his.HisClients(timeout=5)
    try:
        town, town_id = await signed_ecg(center, "dr-township")
        _village, village_id = await signed_ecg(center, "dr-village", text="房颤")
        assert await his.deliver_pending(center, clients) == 2
        async with center.work(await who(center, "ecg-reader")) as work:
            amended = await reports.amend(
                work, town, reason="复核", findings=TEXT + " 更正", impression="正常心电图"
            )
        assert await his.deliver_pending(center, clients) == 1
        assert await his.deliver_pending(center, clients) == 0
    finally:
        await clients.close()
        await xihe.stop()
        await liujia.stop()
    assert len(xihe.received) == 2 and len(liujia.received) == 1
    first, correction = xihe.received
    msh = fields(first, "MSH")[0]
    assert msh[8] == "MDM^T02^MDM_T02" and msh[5] == "th-xihe" and msh[17] == "UNICODE UTF-8"
    assert "窦性心律 \\F\\ 心率 72\\S\\次/分 \\T\\ ST段\\R\\正常 \\E\\ 无异常" in first
    parsed = hl7.parse(first)
    assert str(parsed.segment("OBX").extract_field(1, 5)) == TEXT  # unescaped: the same text
    txa = fields(first, "TXA")[0]
    assert txa[12].startswith(f"{town_id}-1^") and txa[17] == "LA"
    assert fields(correction, "MSH")[0][8] == "MDM^T10^MDM_T02"
    txa = fields(correction, "TXA")[0]
    assert txa[12].startswith(f"{town_id}-{amended.version}^")
    assert txa[13].startswith(f"{town_id}-1^")
    assert {o[11] for o in fields(correction, "OBX")} == {"C"}
    assert village_id in liujia.received[0]
    assert town_id not in liujia.received[0]
    rows = await outbox(center)
    assert [(r.message_type, r.ack_code, r.attempts) for r in rows] == [
        ("MDM^T02", "AA", 1),
        ("MDM^T02", "AA", 1),
        ("MDM^T10", "AA", 1),
    ]
    assert all(r.sent_at is not None for r in rows)


async def lab_release(center: Center, values: list[tuple[str, str]], reason: str = "") -> None:
    tech, supervisor = await who(center, "lab-tech"), await who(center, "lab-supervisor")
    async with center.sessions() as session:
        order = await session.scalar(select(LabOrder).where(LabOrder.placer_number == DEMO_PLACER))
        assert order is not None
    async with center.work(tech) as work:
        if reason:
            for code, value in values:
                await results.amend(work, order.id, code, value, reason)
        else:
            await results.enter(work, order.id, [Observation(c, v) for c, v in values])
    async with center.work(supervisor) as work:
        await results.release(work, order.id)


async def test_lab_results_go_as_oru_and_corrections_as_c(center: Center) -> None:
    lis_clinic = FakeHis("th-dongcheng")
    await connect(center, "th-dongcheng", await lis_clinic.start())
    clients = his.HisClients(timeout=5)
    try:
        await lab_release(center, [(HGB, "141"), (WBC, "6.2")])
        assert await his.deliver_pending(center, clients) == 1
        await lab_release(center, [(HGB, "121")], reason="标本溶血 重测")
        assert await his.deliver_pending(center, clients) == 1
    finally:
        await clients.close()
        await lis_clinic.stop()
    final, corrected = lis_clinic.received
    assert fields(final, "MSH")[0][8] == "ORU^R01^ORU_R01"
    assert fields(final, "OBR")[0][25] == "F"
    assert {o[3].split("^")[0]: (o[5], o[11]) for o in fields(final, "OBX")} == {
        HGB: ("141", "F"),
        WBC: ("6.2", "F"),
    }
    assert fields(corrected, "OBR")[0][25] == "C"
    assert {o[3].split("^")[0]: (o[5], o[11]) for o in fields(corrected, "OBX")} == {
        HGB: ("121", "C"),
        WBC: ("6.2", "F"),
    }


async def test_a_refused_connection_is_retried_and_delivered_once(center: Center) -> None:
    port = free_port()
    await connect(center, "th-xihe", port)
    await signed_ecg(center, "dr-township")
    clients = his.HisClients(timeout=5)
    backoff = his.Backoff(base=30, cap=600)
    receiver = FakeHis("th-xihe")
    try:
        assert await his.deliver_pending(center, clients, backoff=backoff) == 0
        [row] = await outbox(center)
        assert (row.attempts, row.sent_at, row.stopped_at) == (1, None, None)
        assert row.last_error.startswith("unreachable")
        waited = row.next_attempt_at - row.created_at
        assert dt.timedelta(seconds=29) < waited < dt.timedelta(seconds=60)
        assert await his.deliver_pending(center, clients, backoff=backoff) == 0  # not due yet
        assert (await outbox(center))[0].attempts == 1
        await receiver.start(port)
        later = row.next_attempt_at + dt.timedelta(seconds=1)
        assert await his.deliver_pending(center, clients, backoff=backoff, now=later) == 1
        assert await his.deliver_pending(center, clients, backoff=backoff, now=later) == 0
    finally:
        await clients.close()
        await receiver.stop()
    assert len(receiver.received) == 1
    [row] = await outbox(center)
    assert (row.attempts, row.ack_code) == (2, "AA") and row.sent_at is not None


async def test_ar_is_retried_ae_stops_and_waits_for_a_person(center: Center) -> None:
    """AR (cannot take it now): retried after the backoff, the order kept; AE (the message is
    wrong): recorded and stopped, and the next report still goes."""
    receiver = FakeHis(
        "th-xihe", [("AR", "HIS 维护中"), ("AA", ""), ("AE", "PID-3 患者未登记"), ("AA", "")]
    )
    await connect(center, "th-xihe", await receiver.start())
    clients = his.HisClients(timeout=5)
    backoff = his.Backoff(base=10, cap=600)
    try:
        await signed_ecg(center, "dr-township")
        await signed_ecg(center, "dr-township", text="第二份")
        assert await his.deliver_pending(center, clients, backoff=backoff) == 0
        assert len(receiver.received) == 1  # the second waits behind the first
        first, second = await outbox(center)
        assert (first.ack_code, first.ack_text, first.stopped_at) == ("AR", "HIS 维护中", None)
        later = first.next_attempt_at + dt.timedelta(seconds=1)
        assert await his.deliver_pending(center, clients, backoff=backoff, now=later) == 1
        first, second = await outbox(center)
        assert (first.ack_code, first.attempts, second.ack_code) == ("AA", 2, "AE")
        assert second.stopped_at is not None and second.ack_text == "PID-3 患者未登记"
        await signed_ecg(center, "dr-township", text="第三份")
        much_later = later + LATER
        assert await his.deliver_pending(center, clients, now=much_later) == 1
        assert await his.deliver_pending(center, clients, now=much_later) == 0
    finally:
        await clients.close()
        await receiver.stop()
    assert len(receiver.received) == 4  # the stopped one was never sent again
    assert await his.stopped_count(center) == 1 and await his.pending_count(center) == 0


async def test_an_ack_to_another_message_is_no_ack(center: Center) -> None:
    """An AA whose MSA-2 names another message (a late ACK, a confused peer) does not mark the
    report delivered: the row keeps waiting and goes again after the backoff."""
    receiver = FakeHis("th-xihe", [("AA", "", "0123456789abcdef0123")])
    await connect(center, "th-xihe", await receiver.start())
    clients = his.HisClients(timeout=5)
    backoff = his.Backoff(base=10, cap=600)
    try:
        await signed_ecg(center, "dr-township")
        assert await his.deliver_pending(center, clients, backoff=backoff) == 0
        [row] = await outbox(center)
        assert (row.sent_at, row.stopped_at, row.attempts) == (None, None, 1)
        assert row.last_error == (
            f"unreachable: the ACK answers message 0123456789abcdef0123, not {row.control_id}"
        )
        later = row.next_attempt_at + dt.timedelta(seconds=1)
        assert await his.deliver_pending(center, clients, backoff=backoff, now=later) == 1
    finally:
        await clients.close()
        await receiver.stop()
    assert len(receiver.received) == 2 and receiver.received[0] == receiver.received[1]
    [row] = await outbox(center)
    assert (row.ack_code, row.attempts) == ("AA", 2) and row.sent_at is not None


@pytest.mark.both_backends  # the outbox row commits with the signing
async def test_the_outbox_row_commits_with_the_signing(seeded_database: Database) -> None:
    """On each backend: signing writes the message in its own transaction; a signing that
    fails after the message was queued leaves neither a signed report nor a message."""
    center = await _center(seeded_database.url, seeded_database.schema)

    async def refuse(work: Work, report: Report, request: object) -> None:
        raise Conflict("the clinic's inbox refused it")

    try:
        await connect(center, "th-xihe", free_port())
        await signed_ecg(center, "dr-township")
        [row] = await outbox(center)
        assert row.message_type == "MDM^T02" and row.sent_at is None
        center.report_hooks.append(refuse)
        with pytest.raises(Conflict):
            await signed_ecg(center, "dr-township", text="不应发出")
        assert len(await outbox(center)) == 1
        async with center.sessions() as session:
            clinic = await session.scalar(select(Institution).where(Institution.code == "th-xihe"))
            assert clinic is not None and clinic.his_port > 0
    finally:
        await center.sessions.kw["bind"].dispose()
