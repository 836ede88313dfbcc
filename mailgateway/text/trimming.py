"""Keep only the new text of an email reply.

People reply on top of, below or between quoted text, add "On ... wrote:"
attributions in their own language, Outlook header blocks, forwarded
originals, mobile signatures and "-- " signatures.  Posting all of that to a
forum or archive buries the actual message, so the gateway trims it and
keeps the removed part for a "show quoted text" control.

The approach follows Discourse's ``email_reply_trimmer`` (MIT): the quoting styles are
made one (:mod:`.quote_styles`), every line is classified into one letter
(:mod:`.reply_lines`), and the trimming decisions here are taken on that string of
letters rather than on the text itself. Each decision is written as an explicit scan
over the letters (not as a backtracking regular expression over the whole message) so
the cost stays linear in the number of lines.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from mailgateway.text.htmltext import strip_quote_containers
from mailgateway.text.quote_styles import normalize_newlines, preprocess
from mailgateway.text.reply_lines import (
    DELIMITER,
    EMBEDDED,
    EMPTY,
    HEADER,
    OUTLOOK_ORIGINAL_RE,
    QUOTE,
    SIGNATURE,
    TEXT,
    classify,
    is_attribution_line,
    is_email_header,
)

__all__ = ["MAX_TRIMMED_CHARS", "Trimmed", "trim_html", "trim_reply"]

# A reply below an embedded email is trusted when it is shorter than this many
# text lines; a longer "reply" there is more likely the embedded email itself.
_MAX_TEXT_LINES_AFTER_EMBEDDED = 7
# A reply longer than this is kept whole, untrimmed: classifying every line of a text the
# size of a message at the size limit holds the spool processor for seconds, and a text
# this long is pasted data or a whole archive, not a reply above a quote.
MAX_TRIMMED_CHARS = 1_000_000


@dataclass(frozen=True)
class Trimmed:
    """The result of trimming a reply."""

    body: str
    elided: str  # everything removed
    signature: str = ""  # of that, the sender's own "-- " or "Sent from my iPhone" signature
    quoted: str = ""  # and the rest: the quoted mail


_CODE_OPEN_RE = re.compile(r"```\w*")


def _code_block_lines(lines: list[str]) -> set[int]:
    """Lines inside fenced ``` code blocks: they are text whatever they look like."""
    closes = [i for i, line in enumerate(lines) if line == "```"]
    inside: set[int] = set()
    i = 0
    while i < len(lines):
        position = bisect.bisect_right(closes, i)
        if _CODE_OPEN_RE.fullmatch(lines[i]) and position < len(closes):
            close = closes[position]
            inside.update(range(i, close + 1))
            i = close + 1
        else:
            i += 1
    return inside


# --------------------------------------------------------------------------
# Decisions on the line pattern
# --------------------------------------------------------------------------


class _Lines:
    """The surviving line indices and their one-letter pattern, kept in step."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.index = list(range(len(pattern)))

    def keep_until(self, end: int) -> None:
        """Keep positions ``[0, end)``."""
        self.pattern = self.pattern[:end]
        self.index = self.index[:end]

    def keep_from(self, start: int) -> None:
        self.pattern = self.pattern[start:]
        self.index = self.index[start:]

    def drop(self, letter: str) -> None:
        kept = [(c, i) for c, i in zip(self.pattern, self.index, strict=True) if c != letter]
        self.pattern = "".join(c for c, _ in kept)
        self.index = [i for _, i in kept]


_TEXT_THEN_MARKER_RE = re.compile(r"te*b")
_TEXT_THEN_HEADERS_RE = re.compile(r"t[eq]*h{3}")


def _reply_at_end_start(pattern: str) -> int | None:
    """Start of the reply when the mail opens with an attribution and the reply follows it.

    Pattern ``b[^t]+t[et]*``: marker, quoted/other lines, then only text.
    """
    if not pattern.startswith(EMBEDDED):
        return None
    first_text = pattern.find(TEXT)
    if first_text < 2 or set(pattern[first_text:]) - {TEXT, EMPTY}:
        return None
    return first_text


def _text_before_trailing_marker(pattern: str) -> int | None:
    """Text line followed by a marker with no quote after it (``te*b[^q]*$``)."""
    match = _TEXT_THEN_MARKER_RE.search(pattern, pattern.rfind(QUOTE) + 1)
    return match.start() if match else None


def _text_before_quoted_email(pattern: str) -> int | None:
    """Text line, a marker, its quote and at most a short tail (``te*b[eqbh]*[te]*$``)."""
    last_block = max(pattern.rfind(c) for c in (EMBEDDED, QUOTE, HEADER))
    if last_block < 0:
        return None
    text = pattern.rfind(TEXT, 0, last_block + 1)
    if text < 0:
        return None
    marker = text + 1
    while marker < len(pattern) and pattern[marker] == EMPTY:
        marker += 1
    if marker > last_block or pattern[marker] != EMBEDDED:
        return None
    if pattern.count(TEXT, last_block + 1) >= _MAX_TEXT_LINES_AFTER_EMBEDDED:
        return None
    return text


def _start_of_trailing_quote(pattern: str) -> int | None:
    """Where a final run of quotes/markers begins (``t?e*[qbe]+$``), the text line included."""
    start = len(pattern.rstrip(QUOTE + EMBEDDED + EMPTY))
    if start == len(pattern):
        return None
    return start - 1 if start > 0 and pattern[start - 1] == TEXT else start


def _widen_wrapped_headers(pattern: str) -> str:
    """Headers whose value wrapped onto text lines (``h+[hte]+h+e`` becomes all headers)."""
    for run in re.finditer(r"[hte]+", pattern):
        start, end = run.span()
        last_pair = pattern.rfind("he", start, end)
        if last_pair < 0:
            continue
        first_header = pattern.find(HEADER, start, end)
        if 0 <= first_header <= last_pair - 2:
            stop = last_pair + 2
            return pattern[:first_header] + HEADER * (stop - first_header) + pattern[stop:]
    return pattern


def _lone_headers_as_text(pattern: str) -> str:
    """A single "Subject: ..." or "A: ..." line is prose; only header blocks are dropped."""
    return re.sub(r"(?<!h)h(?!h)", TEXT, pattern)


def _trim_pattern(lines: _Lines) -> None:
    """Apply the trimming decisions, in order, to the classified lines."""
    delimiter = lines.pattern.find(DELIMITER)
    # A delimiter separates a reply from what it quotes; one with no text above it (a
    # patch mail's leading "---") separates nothing and would otherwise empty the post.
    if delimiter >= 0 and TEXT in lines.pattern[:delimiter]:
        lines.keep_until(delimiter)
    lines.drop(SIGNATURE)

    reply_start = _reply_at_end_start(lines.pattern)
    if reply_start is not None:
        lines.keep_from(reply_start)
        return

    for find_cut in (_text_before_trailing_marker, _text_before_quoted_email, _start_of_trailing_quote):
        cut = find_cut(lines.pattern)
        if cut is not None:
            lines.keep_until(cut + 1)
    lines.drop(EMBEDDED)

    lines.pattern = _widen_wrapped_headers(lines.pattern)
    headers = _TEXT_THEN_HEADERS_RE.search(lines.pattern)
    if headers:
        lines.keep_until(headers.start() + 1)
    lines.pattern = _lone_headers_as_text(lines.pattern)
    lines.drop(HEADER)

    if TEXT in lines.pattern:
        lines.keep_until(len(lines.pattern.rstrip(EMPTY + QUOTE)))


def _is_heading_underline(previous: str, line: str) -> bool:
    """ "=====" or "-----" right under a text line of about its length underlines a heading.

    Plain-text writers underline titles that way; cutting the message there
    (as at a separator) would drop everything after the first heading.
    """
    underline, heading = line.strip(), previous.strip()
    return (
        len(underline) >= 3
        and len(set(underline)) == 1
        and underline[0] in "=-"
        and len(underline) / 2 <= len(heading) <= len(underline) * 2
    )


def _classify_all(lines: list[str]) -> str:
    code = _code_block_lines(lines)
    letters = [TEXT if i in code else classify(line) for i, line in enumerate(lines)]
    for i in range(1, len(lines)):
        if letters[i] == DELIMITER and letters[i - 1] == TEXT and _is_heading_underline(lines[i - 1], lines[i]):
            letters[i] = TEXT
    return "".join(letters)


_SIGNATURE_DELIMITER_RE = re.compile(r"--[ \t]?")


def _own_signature(lines: list[str], letters: str, kept: set[int]) -> list[int]:
    """The lines of the sender's signature right under the text kept: a "-- " line and
    what follows it, or a mobile signature, up to the quoted mail (which has its own)."""
    start = max(kept, default=-1) + 1
    while start < len(letters) and letters[start] == EMPTY:
        start += 1
    if start >= len(letters) or not (
        letters[start] == SIGNATURE or (letters[start] == DELIMITER and _SIGNATURE_DELIMITER_RE.fullmatch(lines[start]))
    ):
        return []
    end = start + 1
    while end < len(letters) and letters[end] not in (QUOTE, EMBEDDED, HEADER, DELIMITER):
        end += 1
    return list(range(start, end))


def _is_only_quoted_mail(lines: list[str], letters: str) -> bool:
    """Outlook's quote of a mail with nothing typed above it: its "-----Original
    Message-----" (or its line of underscores), then the header block of the mail quoted
    ("From:", "Sent:" …). The unquoted text under the headers is that mail, not a reply
    written below it; Outlook writes the same for a forward, whose note is above too."""
    opens = letters[:1] == DELIMITER or (letters[:1] == EMBEDDED and bool(OUTLOOK_ORIGINAL_RE.match(lines[0])))
    return opens and letters[1:].lstrip(EMPTY).startswith(HEADER * 2)


def trim_reply(text: str) -> Trimmed:
    """Split a plain-text reply into its new text, the quoted rest and the signature between.
    A text longer than :data:`MAX_TRIMMED_CHARS` is all new text."""
    if not text or not text.strip():
        return Trimmed("", "")
    if len(text) > MAX_TRIMMED_CHARS:
        return Trimmed(normalize_newlines(text).strip(), "")
    lines = preprocess(text)
    letters = _classify_all(lines)
    if _is_only_quoted_mail(lines, letters):
        everything = "\n".join(lines)
        return Trimmed("", everything, quoted=everything)
    state = _Lines(letters)
    _trim_pattern(state)
    kept = set(state.index)
    signature = _own_signature(lines, letters, kept)
    body = "\n".join(lines[i] for i in state.index).strip()
    elided = "\n".join(line for i, line in enumerate(lines) if i not in kept).strip()
    quoted = "\n".join(line for i, line in enumerate(lines) if i not in kept and i not in signature).strip()
    own = "\n".join(lines[i] for i in signature if not _SIGNATURE_DELIMITER_RE.fullmatch(lines[i])).strip()
    return Trimmed(body, elided, own, quoted)


def trim_html(html: str) -> str:
    """Remove quoted-reply containers from an HTML reply, keeping the new part."""
    return strip_quote_containers(html, is_attribution=is_attribution_line, is_header=is_email_header)
