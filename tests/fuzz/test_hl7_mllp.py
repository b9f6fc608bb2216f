"""Issue 18.3: mutated ORU^R01 results over a real MLLP socket to the listener as the settings
build it (``web.lab_wiring.results_listener``), on a real database.

Mutations work on the HL7 structure (segments dropped, repeated or swapped; fields replaced with
hostile text, delimiters, huge numbers; the MSH encoding characters changed) and on its bytes.
Every message gets an ACK whose MSA-1 is AA, AE or AR; the listener keeps serving; a message
not accepted (AE/AR) leaves no result and no critical alert behind; a good result is still
taken after the whole run.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from consult.center import Center
from consult.critical_tables import CriticalAlert
from lab.tables import LabResult
from tests.conftest import Database
from tests.fuzz.ecg_files import mutated
from tests.fuzz.hostile import bounded, on_loop
from tests.lab.conftest import center  # noqa: F401 (the fixture: a seeded center)
from tests.lab.helpers import Peer
from tests.security.test_mllp_attacks import good_oru, listening, new_order

EXAMPLES = 120
ACKS = {"AA", "AE", "AR"}
FRAMING = bytes([0x0B, 0x1C])  # MLLP's own start and end bytes: framing is fuzzed elsewhere

FIELD_VALUES = [
    "",
    "\x00",
    "|||||",
    "^^^^",
    "~~~",
    "\\E\\\\F\\\\X0D\\\\Z\\",
    "\\",
    "9" * 400,
    "-1e309",
    "NaN",
    "7.1",
    "99999999999999999999",
    "20240230",
    "00000000000000",
    "ORU^R01^ORU_R01",
    "刘" * 50,
    "\ud7ff\ufffd\ufeff",
    "\r",
    "\rOBX|9|NM|2823-3^K^LN||9.9|mmol/L|||||F",
    "\rPID|1||OTHER^^^TELECENTER^PI",
]


@st.composite
def hl7_edits(draw: st.DrawFn) -> list[tuple[str, int, int, str]]:
    how = st.sampled_from(["field", "field", "drop", "repeat", "swap", "msh", "component"])
    edit = st.tuples(how, st.integers(0, 20), st.integers(0, 20), st.sampled_from(FIELD_VALUES))
    return draw(st.lists(edit, min_size=1, max_size=4))


def edited(message: str, edits: list[tuple[str, int, int, str]]) -> str:
    """``message`` with structural HL7 edits: a segment or field at (``seg``, ``at``)."""
    segments = message.strip("\r").split("\r")
    for how, seg, at, value in edits:
        s = seg % len(segments)
        fields = segments[s].split("|")
        if how == "field":
            fields[at % len(fields)] = value
        elif how == "component":
            index = at % len(fields)
            fields[index] = fields[index] + "^" + value
        elif how == "drop" and len(segments) > 1:
            del segments[s]
            continue
        elif how == "repeat":
            segments.insert(s, segments[s])
            continue
        elif how == "swap":
            t = at % len(segments)
            segments[s], segments[t] = segments[t], segments[s]
            continue
        elif how == "msh" and segments[0].startswith("MSH"):
            segments[0] = "MSH" + value[:5].ljust(5, "#") + segments[0][8:]
            continue
        segments[s] = "|".join(fields)
    return "\r".join(segments) + "\r"


async def stored(lab: Center) -> tuple[int, int]:
    async with lab.sessions() as session:
        results = await session.scalar(select(func.count()).select_from(LabResult))
        alerts = await session.scalar(select(func.count()).select_from(CriticalAlert))
        return int(results or 0), int(alerts or 0)


async def ack_code(port: int, payload: bytes) -> tuple[str, str, str]:
    """MSA-1, MSA-3 and the ACK the listener answers ``payload`` with, on a new connection."""
    from lab.hl7 import ack_code_of

    peer = await Peer.connect(port)
    try:
        await peer.send_raw(b"\x0b" + payload + b"\x1c\r")
        ack = await peer.reply()
        return (*ack_code_of(ack), ack)
    finally:
        await peer.close()


async def test_mutated_results_get_an_ack_and_a_refusal_stores_nothing(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    placer, _ = await new_order(center, collect=True)
    good = await good_oru(center, placer)
    async with listening(center, tmp_path, database) as server:
        port = server.port

        async def check(payload: bytes) -> None:
            before = await stored(center)
            code, text, ack = await ack_code(port, payload)
            assert code in ACKS, (payload, ack)
            assert not text.startswith("internal error"), (payload, ack)  # the handler crashed
            if code != "AA":
                assert await stored(center) == before, (payload, ack)

        def run(submit: Callable[[Coroutine[Any, Any, None]], None]) -> None:
            @bounded(EXAMPLES)
            @given(
                edits=hl7_edits(),
                changes=st.lists(
                    st.tuples(
                        st.sampled_from(["flip", "set", "insert", "delete", "truncate", "text"]),
                        st.floats(min_value=0, max_value=1, exclude_max=True),
                        st.integers(min_value=1, max_value=255),
                    ),
                    max_size=3,
                ),
                seed=st.integers(0, 3),
            )
            def fuzz(edits: list[tuple[str, int, int, str]], changes: Any, seed: int) -> None:
                text = edited(good, edits)
                raw = text.encode("utf-8", "surrogatepass")
                if random.Random(seed).random() < 0.5:
                    raw = mutated(raw, changes)
                submit(check(bytes(b for b in raw if b not in FRAMING)))

            fuzz()

        await on_loop(run)
        fresh, _ = await new_order(center, collect=True)
        code, _, ack = await ack_code(port, (await good_oru(center, fresh)).encode())
        assert code == "AA", ack  # still serving, a good result still taken


async def test_found_a_header_with_odd_delimiters_or_cut_short_is_an_ar(
    center: Center,  # noqa: F811
    database: Database,
    tmp_path: Path,
) -> None:
    """Found by the fuzzer: such a header parsed, then building its ACK raised (IndexError,
    AssertionError) and the listener could only answer a bare 'internal error'."""
    placer, _ = await new_order(center, collect=True)
    good = await good_oru(center, placer)
    async with listening(center, tmp_path, database) as server:
        for bad, reason in (
            ("MSH#####" + good[8:], "delimiters"),
            ("MSH|^^^^" + good[8:], "delimiters"),
            ("MSH|^~\\&|LIS\r" + good.split("\r", 1)[1], "MSH-12"),
        ):
            code, text, ack = await ack_code(server.port, bad.encode())
            assert (code, reason in text) == ("AR", True), ack
        assert await stored(center) == (0, 0)
