"""A post's opening words for a digest: its own text, on one line, cut at a word.

Posts that came by email are stored already trimmed, but web posts quote in Markdown
(``> …``) and a few mail clients defeat trimming, so the excerpt drops what is plainly not
the author's new text on its own: quoted lines, the "On … wrote:" line above them, and
everything from a signature or a forwarded-message header on.
"""

from __future__ import annotations

import re

EXCERPT_CHARS = 280

_QUOTED = re.compile(r"^\s*>")
_ATTRIBUTION = re.compile(
    r"^\s*(on|le|am|el|il|op|den)\b.{0,300}\b(wrote|a écrit|schrieb|escribió|ha scritto|schreef|skrev)\s*:\s*$",
    re.IGNORECASE,
)
_ENDS_TEXT = re.compile(r"^(--\s*|_{5,}\s*|-{3,}\s*(original message|forwarded message)\s*-{3,}.*)$", re.IGNORECASE)
_HEADER_BLOCK = (
    re.compile(r"^(from|de|von):\s", re.IGNORECASE),
    re.compile(r"^(sent|date|envoyé|gesendet):\s", re.IGNORECASE),
)
# Control characters, and the private-use area where digest blocks mark their slots.
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ue000-\uf8ff]")


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> tuple[str, bool]:
    """(The opening of the author's own words in ``body``, whether it was cut short)."""
    lines = body.splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _ENDS_TEXT.match(line) or _outlook_header(lines, i):
            break
        if not (_QUOTED.match(line) or _ATTRIBUTION.match(line)):
            kept.append(line)
    words = " ".join(UNPRINTABLE.sub(" ", " ".join(kept)).split())
    if len(words) <= limit:
        return words, False
    cut = words[: limit + 1].rsplit(" ", 1)[0] if " " in words[: limit + 1] else words[:limit]
    return cut.rstrip(" ,.;:-–—") + "…", True


def _outlook_header(lines: list[str], i: int) -> bool:
    """Outlook's reply header (``From: …`` then ``Sent: …``) starts the quoted message."""
    start, then = _HEADER_BLOCK
    return bool(start.match(lines[i])) and i + 1 < len(lines) and bool(then.match(lines[i + 1]))
