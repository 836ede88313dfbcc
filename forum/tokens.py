"""Stateless HMAC tokens: reply addresses, unsubscribe links, login and confirmation links.

A token is ``base32(varint fields ‖ HMAC-SHA256(purpose ‖ fields)[:10])``, lowercase and
unpadded, because it lives in an email local part (``housing+TOKEN@…``) where case may be
folded by a relay and ``=`` is unwelcome. The purpose is inside the MAC but not the token,
so a reply token can never be replayed as an unsubscribe token. 80 bits of MAC make
guessing hopeless; verifying needs no database. Rotation: sign with ``secret_key``, accept
``old_secret_keys`` too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from forum.errors import NotFound
from forum.translatable import Message

T = TypeVar("T")

MAC_BYTES = 10


class BadToken(ValueError):
    """The token is malformed, forged, for another purpose, or expired."""


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("token fields are non-negative integers")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _unvarints(data: bytes) -> tuple[int, ...]:
    values, n, shift = [], 0, 0
    for byte in data:
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(n)
            n, shift = 0, 0
        elif shift > 63:
            raise BadToken("token field too long")
    if shift:
        raise BadToken("truncated token")
    return tuple(values)


@dataclass(frozen=True)
class Signer:
    """Makes and checks tokens with the site's current and previous secrets."""

    secret_key: str
    old_secret_keys: tuple[str, ...] = ()

    def _mac(self, key: str, purpose: str, body: bytes) -> bytes:
        msg = purpose.encode() + b"\0" + body
        return hmac.new(key.encode(), msg, hashlib.sha256).digest()[:MAC_BYTES]

    def make(self, purpose: str, *fields: int, ttl_seconds: int | None = None) -> str:
        """A token carrying ``fields``; with ``ttl_seconds`` it expires (stored as a last field)."""
        values = list(fields)
        if ttl_seconds is not None:
            values.append(int(time.time()) + ttl_seconds)
        body = b"".join(_varint(v) for v in values)
        raw = body + self._mac(self.secret_key, purpose, body)
        return base64.b32encode(raw).decode().rstrip("=").lower()

    def verify(self, purpose: str, token: str, *, count: int, expires: bool = False) -> tuple[int, ...]:
        """The ``count`` fields of a valid token, or :class:`BadToken`."""
        text = token.strip().upper()
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (ValueError, TypeError):
            raise BadToken("not a token") from None
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if len(mac) != MAC_BYTES or not any(
            hmac.compare_digest(mac, self._mac(k, purpose, body)) for k in (self.secret_key, *self.old_secret_keys)
        ):
            raise BadToken("token signature does not match")
        values = _unvarints(body)
        if len(values) != count + (1 if expires else 0):
            raise BadToken("token has the wrong shape")
        if expires:
            if values[-1] < time.time():
                raise BadToken("token has expired")
            values = values[:-1]
        return values


def row_for_token(
    session: Session,
    signer: Signer,
    purpose: str,
    token: str,
    model: type[T],
    *,
    invalid: str | Message,
    used: str | Message,
) -> T:
    """The row a single-field, expiring token names, or NotFound with the matching sentence.

    Confirmation links (an extra address, a subscription) name a pending row; once it is
    settled the row is gone, so a reused link says ``used`` and a forged or stale one ``invalid``.
    """
    try:
        (row_id,) = signer.verify(purpose, token, count=1, expires=True)
    except BadToken:
        raise NotFound(invalid) from None
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(used)
    return row


# Purposes, one per kind of link or address.
REPLY = "reply"  # SLUG+TOKEN@: (user id, post id); refused [smtp_in] reply_token_days after the post
UNSUBSCRIBE = "unsubscribe"  # one-click unsubscribe: (user id, community id)
PRIVATE_POST = "private-post"  # SLUG-private+TOKEN@ in a post's copies and digests: (post id)
PRIVATE_POST_WELSH = "private-post-cy"  # SLUG-preifat+TOKEN@, the same in mail written in Welsh: (post id)
PRIVATE = "private"  # SLUG-private+TOKEN@ on a relayed private message: (recipient user id, writer user id)
MODERATE = "moderate"  # SLUG-moderate+TOKEN@, Reply-To of a held-post notice: (post id, moderator user id)
