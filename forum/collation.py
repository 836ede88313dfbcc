"""Sorting names as a reader of the page's language expects: Welsh or English alphabetical order.

The Welsh alphabet has letters written with two characters, each sorted as one letter
after its first: a b c ch d dd e f ff g ng h i j l ll m n o p ph r rh s t th u w y, so
"Llanelli" comes after "Lymm" and "Rhyl" after "Ruthin". Letters the alphabet lacks (k, q,
v, x, z) keep their English places. In either language case and accents only break ties
("tŷ" sorts with "ty"), digits come before letters, and spaces and punctuation are passed
over.

"ng" is ambiguous: it is the letter ng in "angen" or "yng Nghaerdydd", but n then g in
"Bangor" and "Llangollen", as Welsh dictionaries sort them; only a word list can tell. In
names, place names with n then g (Llan-g…, Ban-g…) are far the more common, so ng is one
letter only at the start of a word (a nasal mutation: "Nghaerdydd"), elsewhere n then g.

No library does this here: PyICU has Welsh tailoring but needs ICU's headers to build,
and pyuca knows only the root collation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

WELSH = "cy"
# fmt: off
_WELSH_LETTERS = [
    "a", "b", "c", "ch", "d", "dd", "e", "f", "ff", "g", "ng", "h", "i", "j", "k", "l", "ll",
    "m", "n", "o", "p", "ph", "q", "r", "rh", "s", "t", "th", "u", "v", "w", "x", "y", "z",
]
# fmt: on
_ENGLISH_LETTERS = list("abcdefghijklmnopqrstuvwxyz")
# The two-character letters first, so that "ll" is read before "l"; "ng" only at a word's start.
_WELSH_LETTER = re.compile(r"ch|dd|ff|(?<![^\W\d_])ng|ll|ph|rh|th|.", re.DOTALL)
_ENGLISH_LETTER = re.compile(r".", re.DOTALL)

SortKey = tuple[tuple[int, ...], str]


def sort_key(language: str) -> Callable[[str], SortKey]:
    """The key that sorts names in ``language``'s order ("cy": Welsh; any other: English)."""
    return welsh_key if language == WELSH else english_key


def welsh_key(name: str) -> SortKey:
    return _key(name, _WELSH_LETTER, _WELSH_RANKS)


def english_key(name: str) -> SortKey:
    return _key(name, _ENGLISH_LETTER, _ENGLISH_RANKS)


def _ranks(letters: list[str]) -> dict[str, int]:
    """Digits first (0-9), then the letters in order; other characters (spaces, punctuation)
    are not in the key, as dictionaries sort letter by letter."""
    ranks = {str(digit): 1 + digit for digit in range(10)}
    ranks.update({letter: 11 + n for n, letter in enumerate(letters)})
    return ranks


_WELSH_RANKS = _ranks(_WELSH_LETTERS)
_ENGLISH_RANKS = _ranks(_ENGLISH_LETTERS)


def _key(name: str, letter: re.Pattern[str], ranks: dict[str, int]) -> SortKey:
    """The letters' ranks, then the name itself (casefolded, then as written) to break ties."""
    folded = _without_accents(name.casefold())
    spelled = tuple(ranks[found] for found in letter.findall(folded) if found in ranks)
    return spelled, f"{name.casefold()}\0{name}"


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
