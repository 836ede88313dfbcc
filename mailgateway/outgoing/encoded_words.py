"""Header values written so that mail clients read them back exactly as they were written.

The email library folds a value that mixes ASCII and other text in ways clients show
changed: a line can end in a space right before the folding whitespace (two spaces once
unfolded, "placements  – notification"), and the space between two encoded words is
lost ("ŵ ŷ" becomes "ŵŷ"). So outgoing headers with people's text in them are written
here instead. Words that are ASCII stay as they are; each run of other words becomes RFC
2047 encoded words, the spaces inside the run encoded with it, since whitespace between
two adjacent encoded words is not part of the text (RFC 2047 §6.2). Lines are folded only
at the spaces between those items, which unfold to exactly one space.
"""

from __future__ import annotations

import itertools
import re
from email.charset import Charset

LINE = 78  # characters, RFC 5322 §2.1.1
ENCODED_WORD = 75  # characters, RFC 2047 §2
CRLF = "\r\n"
_UTF8 = Charset("utf-8")  # encoded words as "b" or "q", whichever is shorter; "q" safe in phrases
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def text(name: str, value: str) -> str:
    """The value of an unstructured header (Subject) for ``set_raw``."""
    return _fold(name, _items(name, value, quote=False))


def name_addr(name: str, display_name: str, addr_spec: str) -> str:
    """``display name <addr-spec>`` (From, To, Reply-To, and List-Id, which has the same
    shape), ASCII words with specials quoted."""
    return _fold(name, [*_items(name, display_name, quote=True), f"<{addr_spec}>"])


def _items(name: str, value: str, *, quote: bool) -> list[str]:
    """``value``'s words as header items: ASCII ones as they are (quoted when ``quote`` and
    they hold specials), each run of others as encoded words (the very first one short
    enough to share the first line with the header's name)."""
    items: list[str] = []
    for plain, words in itertools.groupby(value.split(), key=_plain):
        if plain:
            items += [_quoted(word) if quote and _SPECIALS.search(word) else word for word in words]
        else:
            first = min(ENCODED_WORD, LINE - len(name) - 2) if not items else ENCODED_WORD
            lengths = itertools.chain([first], itertools.repeat(ENCODED_WORD))
            # None: nothing fitted beside the header's name, so the words start on the next line.
            items += [line for line in _UTF8.header_encode_lines(" ".join(words), lengths) if line is not None]
    return items


def _plain(word: str) -> bool:
    """Whether a word can go out as it is: ASCII that no client would take for an encoded word."""
    return word.isascii() and "=?" not in word


def _quoted(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fold(name: str, items: list[str]) -> str:
    """Items joined by single spaces, a line break put before an item that would not fit."""
    lines: list[str] = []
    line = f"{name}:"
    for item in items:
        if len(line) + 1 + len(item) > LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line = f"{line} {item}"
    lines.append(line)
    return CRLF.join(lines)[len(name) + 2 :]
