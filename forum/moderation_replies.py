"""Approving or rejecting a held post by answering the mail that says it waits.

The notice a moderator gets for a held post has the Reply-To ``SLUG-moderate+TOKEN@``;
the token names the post and the moderator it was sent to, so the answer needs no state
of its own and a token lifted from one moderator's mailbox is no use from another's
address. The answer's first word decides, in English or Welsh, and after "reject" the
rest is the reason the author is sent. A post is decided once: a second answer finds it
decided and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from forum import tokens
from forum.tokens import Signer

SUFFIX = "-moderate"
TOKEN_DAYS = 60  # a held post waits no longer than this for an answer by mail
APPROVE = "approve"
REJECT = "reject"
# The words each decision may be written as (lowercase): English and Welsh.
WORDS = {"approve": APPROVE, "cymeradwyo": APPROVE, "reject": REJECT, "gwrthod": REJECT}
_FIRST_WORD = re.compile(r"\s*([^\W\d_]+)[\s:.,;!-]*(.*)", re.S)


@dataclass(frozen=True)
class Decision:
    action: str  # APPROVE or REJECT
    reason: str = ""


def address(signer: Signer, slug: str, domain: str, post_id: int, user_id: int) -> str:
    """Where moderator ``user_id`` answers the notice about held post ``post_id``."""
    token = signer.make(tokens.MODERATE, post_id, user_id, ttl_seconds=TOKEN_DAYS * 86400)
    return f"{slug}{SUFFIX}+{token}@{domain}"


def read_token(signer: Signer, token: str) -> tuple[int, int]:
    """(post id, moderator user id) of a token we made; :class:`forum.tokens.BadToken` if not."""
    post_id, user_id = signer.verify(tokens.MODERATE, token, count=2, expires=True)
    return post_id, user_id


def decision(new_text: str) -> Decision | None:
    """The decision an answer's new text (quotes and signature already removed) starts
    with; None when its first word is neither."""
    found = _FIRST_WORD.match(new_text)
    if found is None:
        return None
    action = WORDS.get(found.group(1).lower())
    if action is None:
        return None
    reason = found.group(2).strip() if action == REJECT else ""
    return Decision(action, reason[:2000])
