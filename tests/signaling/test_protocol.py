from __future__ import annotations

import json

import pytest

from signaling import protocol as p

SAMPLES: list[p.Message] = [
    p.Join(display_name="Dr. Wang", audio_only=True),
    p.Offer(sdp="v=0\r\n"),
    p.Answer(sdp="v=0\r\n"),
    p.Candidate(candidate="candidate:1 1 UDP 1 192.0.2.1 5000 typ host", sdp_mid="0"),
    p.Leave(),
    p.Mute(audio_muted=True, video_muted=False),
    p.AudioOnly(enabled=True),
    p.Chat(text="你好"),
    p.RaiseHand(raised=True),
    p.CoView(
        action=p.CoViewAction.WINDOW,
        resource="study/1.2.3",
        params=(p.CoViewParam("center", 40), p.CoViewParam("width", 400.5)),
    ),
    p.Admit(participant_id="patient"),
    p.Remove(participant_id="patient"),
    p.End(),
    p.Lobby(participant_id="patient"),
    p.Joined(
        participant_id="a",
        role=p.Role.HOST,
        ice_servers=(
            p.IceServer(urls=("turn:turn.example:3478",), username="1:a", credential="x"),
        ),
        slots=3,
    ),
    p.Roster(participants=(p.ParticipantInfo("a", "A", p.Role.GUEST, in_lobby=True),)),
    p.MediaMap(slots=(p.MediaSlot("2", "video", "a"), p.MediaSlot("3", "audio"))),
    p.Connected(setup_ms=120),
    p.Error(code=p.ErrorCode.MALFORMED, message="bad", ref="chat"),
    p.Bye(reason=p.ByeReason.ENDED),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.type)
def test_round_trip(msg: p.Message) -> None:
    text = p.encode(msg)
    assert json.loads(text)["type"] == msg.type
    assert p.decode(text) == msg


def test_every_type_is_sampled() -> None:
    assert {m.type for m in SAMPLES} == set(p.MESSAGE_TYPES)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "chat", "text": ""},
        {"type": "chat", "text": "x" * (p.MAX_CHAT + 1)},
        {"type": "mute", "audio_muted": 1, "video_muted": False},
        {"type": "joined", "participant_id": "a", "role": "king", "ice_servers": [], "slots": 1},
        {"type": "joined", "participant_id": "a", "role": "host", "ice_servers": [], "slots": 99},
        {"type": "co_view", "action": "open", "resource": "r", "params": {"a": 1}},
        {"type": "candidate", "candidate": "", "sdp_mline_index": -1},
        {"type": "media_map", "slots": [{"mid": "1", "kind": "text"}]},
    ],
)
def test_invalid_values_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(p.ProtocolError) as refused:
        p.decode(json.dumps(body))
    assert refused.value.code == "malformed"


def test_dataclasses_check_themselves() -> None:
    with pytest.raises(ValueError, match="ice url"):
        p.IceServer(urls=("http://x",))
