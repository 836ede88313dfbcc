"""Subjects: telling a reply's subject from a new one, and matching "Re: X" to thread "X".

Mail clients prefix replies in their user's language (Re, RE, AW, Sv, Antw, Réf, R, VS,
Odp, 回复…) and lists add ``[tags]``; a forwarded message (Fw, Fwd, WG, TR…) is not a reply.
"""

from __future__ import annotations

import re

_REPLY = r"(?:re|aw|sv|antw|antwort|r[ée]f|r|vs|odp|ynt|atb|svar|vá|rif|res|回复|回覆|答复|返信)"
_FORWARD = r"(?:fw|fwd|wg|tr|rv|enc|doorst|vb|i|pd|fs|転送|转发)"
_COUNT = r"(?:\[\d+\]|\(\d+\)|\^\d+)?"
_TAG = r"\[[^\]]{1,64}\]"
_LEAD_RE = re.compile(rf"^\s*(?:{_TAG}\s*)*(?P<p>{_REPLY}|{_FORWARD})\s*{_COUNT}\s*[:：]", re.IGNORECASE)
_REPLY_RE = re.compile(rf"^\s*(?:{_TAG}\s*)*{_REPLY}\s*{_COUNT}\s*[:：]", re.IGNORECASE)
_PREFIXES_RE = re.compile(rf"^(?:\s*(?:{_TAG}|(?:{_REPLY}|{_FORWARD})\s*{_COUNT}\s*[:：]))+\s*", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")


def is_reply_subject(subject: str) -> bool:
    """True when the subject starts (after any ``[tag]``) with a reply prefix."""
    return bool(_REPLY_RE.match(subject or ""))


def strip_prefixes(subject: str) -> str:
    """The subject without leading reply/forward prefixes and list tags, for display."""
    return _SPACE_RE.sub(" ", _PREFIXES_RE.sub("", subject or "")).strip()


def subject_key(subject: str) -> str:
    """The key a thread is found by: prefixes and tags gone, whitespace collapsed, casefolded."""
    return strip_prefixes(subject).casefold()
