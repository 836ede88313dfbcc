"""HMAC tokens: the reply address and unsubscribe link a member receives must work, and only for them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from forum.tokens import REPLY, UNSUBSCRIBE, BadToken, Signer

SIGNER = Signer("current-secret-0123456789")


def test_round_trip() -> None:
    token = SIGNER.make(REPLY, 42, 1_000_000)
    assert SIGNER.verify(REPLY, token, count=2) == (42, 1_000_000)


def test_token_fits_an_email_local_part() -> None:
    token = SIGNER.make(REPLY, 123_456, 987_654_321)
    assert token == token.lower() and token.isalnum()
    assert len(f"housing+{token}") <= 64  # RFC 5321 local-part limit


def test_reply_token_is_not_an_unsubscribe_token() -> None:
    token = SIGNER.make(REPLY, 7, 9)
    with pytest.raises(BadToken):
        SIGNER.verify(UNSUBSCRIBE, token, count=2)


@pytest.mark.parametrize("where", ["first", "middle"])
def test_tampered_token_is_rejected(where: str) -> None:
    token = SIGNER.make(REPLY, 7, 9)
    i = 0 if where == "first" else len(token) // 2
    forged = token[:i] + ("a" if token[i] != "a" else "b") + token[i + 1 :]
    with pytest.raises(BadToken):
        SIGNER.verify(REPLY, forged, count=2)


def test_truncated_or_extended_token_is_rejected() -> None:
    token = SIGNER.make(REPLY, 7, 9)
    for forged in (token[:-1], token[:-8], token + "a", token + "aaaaaaaa"):
        with pytest.raises(BadToken):
            SIGNER.verify(REPLY, forged, count=2)


def test_token_from_another_site_is_rejected() -> None:
    other = Signer("someone-elses-secret-xyz").make(REPLY, 7, 9)
    with pytest.raises(BadToken):
        SIGNER.verify(REPLY, other, count=2)


def test_rotation_accepts_tokens_signed_with_an_old_key() -> None:
    old_token = SIGNER.make(UNSUBSCRIBE, 3, 4)
    rotated = Signer("next-secret-abcdefghijklmn", old_secret_keys=(SIGNER.secret_key,))
    assert rotated.verify(UNSUBSCRIBE, old_token, count=2) == (3, 4)
    with pytest.raises(BadToken):  # once the old key is dropped, its tokens stop working
        Signer("next-secret-abcdefghijklmn").verify(UNSUBSCRIBE, old_token, count=2)


def test_expired_token_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    token = SIGNER.make("login", 5, ttl_seconds=60)
    assert SIGNER.verify("login", token, count=1, expires=True) == (5,)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(BadToken, match="expired"):
        SIGNER.verify("login", token, count=1, expires=True)


@pytest.mark.parametrize("fold", [str.upper, str.lower, str.swapcase])
def test_case_folded_token_still_verifies(fold: Callable[[str], str]) -> None:
    """Some relays change the case of local parts; the reply must still reach its thread."""
    token = SIGNER.make(REPLY, 42, 77)
    assert SIGNER.verify(REPLY, fold(token), count=2) == (42, 77)


@pytest.mark.parametrize("garbage", ["", "not a token!", "0189", "a" * 3])
def test_garbage_is_a_bad_token_not_a_crash(garbage: str) -> None:
    with pytest.raises(BadToken):
        SIGNER.verify(REPLY, garbage, count=2)


def test_wrong_field_count_is_rejected() -> None:
    token = SIGNER.make(REPLY, 1, 2, 3)
    with pytest.raises(BadToken):
        SIGNER.verify(REPLY, token, count=2)
