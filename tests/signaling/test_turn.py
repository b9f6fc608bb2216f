from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from signaling.turn import IceConfig, mint_credentials, verify_credentials

SECRET = "north-county-secret"


def test_credentials_follow_the_turn_rest_scheme() -> None:
    creds = mint_credentials(SECRET, "patient-7", now=1_700_000_000, ttl_seconds=600)
    assert creds.username == "1700000600:patient-7"
    expected = hmac.new(SECRET.encode(), creds.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(creds.password) == expected
    assert verify_credentials(SECRET, creds.username, creds.password, now=1_700_000_100)


def test_expired_or_forged_credentials_fail() -> None:
    creds = mint_credentials(SECRET, "patient-7", now=1_700_000_000, ttl_seconds=600)
    assert not verify_credentials(SECRET, creds.username, creds.password, now=1_700_000_601)
    assert not verify_credentials("other", creds.username, creds.password, now=1_700_000_001)
    forged = creds.username.replace("1700000600", "1900000000")
    assert not verify_credentials(SECRET, forged, creds.password, now=1_700_000_001)


def test_ice_config_gives_stun_and_minted_turn() -> None:
    config = IceConfig(
        stun_urls=("stun:turn.county.example:3478",),
        turn_urls=("turn:turn.county.example:3478?transport=udp",),
        turn_secret=SECRET,
        ttl_seconds=300,
    )
    stun, turn = config.servers_for("doctor", now=1000)
    assert stun.username is None
    assert turn.username == "1300:doctor"
    assert turn.credential is not None
    assert verify_credentials(SECRET, turn.username, turn.credential, now=1001)
    assert IceConfig().servers_for("doctor", now=0) == ()


def test_turn_urls_need_a_secret() -> None:
    with pytest.raises(ValueError, match="turn_secret"):
        IceConfig(turn_urls=("turn:x:3478",))
