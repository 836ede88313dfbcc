"""Quoting styles made one before a reply's lines are classified.

Clear-signing armour is removed, ">>>> … <<<<" enclosed quotes and "|", "Name>" quote
prefixes become "> " lines, and attributions a client wrapped over several lines ("On
<date>, Some One <some@one.com>" / "wrote:") are joined into one, so that the line
matchers (:mod:`.reply_lines`) see every quote and marker in one shape.
"""

from __future__ import annotations

import bisect
import re

from mailgateway.text.reply_lines import (
    EMAIL_RE,
    MARKER_START_RE,
    MAX_MARKER_LEN,
    WROTE,
    has_attribution_evidence,
    is_embedded_marker,
    is_wrote_attribution,
    search_tail,
)

# "On <date>, <someone>\n<email>\nwrote:" may be wrapped over up to 5 lines.
_MAX_WRAPPED_MARKER_LINES = 5

_PGP_SIGNED_HEADER_RE = re.compile(r"\A-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash: [\w-]+\n)?\s*", re.I)
_ALIAS_QUOTE_RE = re.compile(r'^.{0,80}?>{5} "[^"\n]{1,80}" == .{1,200}? writes:')
_NAMED_ENCLOSED_OPEN_RE = re.compile(r"^>>> ?(.+?) ?>>>$")
_NAMED_ENCLOSED_CLOSE_RE = re.compile(r"^<<< ?(.+?) ?<<<$")
_ENCLOSED_OPEN_RE = re.compile(r"^>{4,}[ \t]*$")
_ENCLOSED_CLOSE_RE = re.compile(r"^<{4,}[ \t]*$")
# Leading quote markers in other styles: "|", "Name>" (supercite), "C>".
_QUOTE_PREFIX_RE = re.compile(r"(?:[ \t]*(?:[^\W\d_]{1,15}>(?=[ \t>|]|$)|>|\|(?=[ \t>|]|$)))+")
_PREFIX_TOKEN_RE = re.compile(r"[^\W\d_]{1,15}>|\|")


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strip_pgp(text: str) -> str:
    """Remove clear-signing armour, which is not part of what was written."""
    text = _PGP_SIGNED_HEADER_RE.sub("", text)
    lines = text.split("\n")
    kept: list[str] = []
    in_signature = False
    for line in lines:
        if line.strip() == "-----BEGIN PGP SIGNATURE-----":
            in_signature = True
        elif in_signature and line.strip() == "-----END PGP SIGNATURE-----":
            in_signature = False
        elif not in_signature:
            kept.append(line)
    return "\n".join(kept) if not in_signature else text


def _unwrap_enclosed_quotes(lines: list[str]) -> list[str]:
    """Turn ">>>> ... <<<<" and ">>> name >>> ... <<< name <<<" blocks into "> " quotes."""
    plain_closes = [i for i, line in enumerate(lines) if _ENCLOSED_CLOSE_RE.match(line)]
    named_closes: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        match = _NAMED_ENCLOSED_CLOSE_RE.match(line)
        if match:
            named_closes.setdefault(match.group(1), []).append(i)
    out: list[str] = []
    i = 0
    while i < len(lines):
        close = _matching_close(lines[i], i, plain_closes, named_closes)
        if close is None:
            out.append(lines[i])
            i += 1
            continue
        out.extend("> " + line for line in lines[i + 1 : close])
        i = close + 1
    return out


def _matching_close(line: str, index: int, plain: list[int], named: dict[str, list[int]]) -> int | None:
    """Index of the line closing an enclosed quote opened at ``index``, if any."""
    if len(line) > MAX_MARKER_LEN:
        return None
    candidates: list[int] = []
    if _ENCLOSED_OPEN_RE.match(line):
        candidates = plain
    else:
        match = _NAMED_ENCLOSED_OPEN_RE.match(line)
        if match:
            candidates = named.get(match.group(1), [])
    position = bisect.bisect_right(candidates, index + 1)
    return candidates[position] if position < len(candidates) else None


def _normalize_quote_prefix(line: str) -> str:
    """Rewrite "| text", "Name> text" quote prefixes as "> text".

    A line ending in "|" is a table row, not a quote, so its pipes are kept.
    """
    match = _QUOTE_PREFIX_RE.match(line)
    if not match or not _PREFIX_TOKEN_RE.search(match.group()):
        return line
    prefix = match.group()
    if "|" in prefix and line.rstrip().endswith("|") and line.count("|") >= 2:
        return line
    return _PREFIX_TOKEN_RE.sub(">", prefix) + line[match.end() :]


def _may_start_wrapped_marker(line: str) -> bool:
    """Whether a wrapped attribution could begin on this line."""
    return len(line) <= MAX_MARKER_LEN and bool(MARKER_START_RE.match(line) or ("@" in line and EMAIL_RE.search(line)))


def _join_wrapped_markers(lines: list[str]) -> list[str]:
    """Join attributions that the sender's client wrapped over several lines.

    "On <date>, Some One <some@one.com>\\nwrote:" must become one line for the
    line classifier to see it.  A join starts on a line that begins like an
    attribution, never swallows a line that is a whole attribution itself,
    and a join ending in "wrote" (in any language) wins over a shorter one
    that merely ends in an address, because "<address>\\nwrote:" is the
    commoner wrapping.
    """
    out: list[str] = []
    i = 0
    while i < len(lines):
        span = _wrapped_marker_span(lines, i)
        if span:
            parts = [lines[i]] + [line.strip() for line in lines[i + 1 : i + span] if line.strip()]
            out.append(" ".join(parts))
            i += span
        else:
            out.append(lines[i])
            i += 1
    return out


_WROTE_RE = re.compile(WROTE, re.I)
# Every marker ends in "wrote" (in some language), a colon or an address.
_MARKER_END_HINT_RE = re.compile(rf"(?:{WROTE}|[:：>])[\s.:：>*)\-]*$", re.I)


def _wrapped_marker_span(lines: list[str], start: int) -> int:
    """How many lines from ``start`` form one wrapped marker (0 if none).

    The first line must already carry a date or an address, and no line but
    the last may say "wrote": prose such as "On this day I wrote ...\n...
    as Bob wrote" is not an attribution.
    """
    first = lines[start]
    if not first.strip() or not _may_start_wrapped_marker(first):
        return 0
    if not has_attribution_evidence(first) or is_wrote_attribution(first):
        return 0
    first_is_marker = is_embedded_marker(first)
    fallback = 0
    joined = first
    last = min(len(lines), start + _MAX_WRAPPED_MARKER_LINES)
    for end in range(start + 1, last):
        following = lines[end]
        if MARKER_START_RE.match(following) and is_embedded_marker(following):
            break
        if not following.strip():
            continue
        joined = f"{joined} {following.strip()}"
        if len(joined) > 2 * MAX_MARKER_LEN:
            break
        if search_tail(_MARKER_END_HINT_RE, following):
            if is_wrote_attribution(joined):
                return end - start + 1
            if not fallback and not first_is_marker and is_embedded_marker(joined):
                fallback = end - start + 1
        if _WROTE_RE.search(following):
            break
    return fallback


def preprocess(text: str) -> list[str]:
    text = _strip_pgp(normalize_newlines(text))
    lines = [_ALIAS_QUOTE_RE.sub("", line) for line in text.split("\n")]
    lines = _unwrap_enclosed_quotes(lines)
    lines = [_normalize_quote_prefix(line) for line in lines]
    lines = _join_wrapped_markers(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
