"""The languages listbridge speaks to people, and the values a member's or community's
setting may take.

A member chooses Welsh or English; a community is Welsh, English or bilingual (its own
text in both, Welsh first, as the Welsh Language Standards expect). Every channel checks
a value here, so the CLI, CSV imports and the web accept the same ones.
"""

from __future__ import annotations

from forum.errors import InvalidInput

MEMBER_LANGUAGES = ("cy", "en")
BILINGUAL = "bilingual"
COMMUNITY_LANGUAGES = (*MEMBER_LANGUAGES, BILINGUAL)


def check_member_language(value: str) -> str:
    """``value`` as stored for a member ("cy" or "en"), else InvalidInput."""
    return _check(value, MEMBER_LANGUAGES)


def check_community_language(value: str) -> str:
    """``value`` as stored for a community ("cy", "en" or "bilingual"), else InvalidInput."""
    return _check(value, COMMUNITY_LANGUAGES)


def _check(value: str, allowed: tuple[str, ...]) -> str:
    code = value.strip().lower()
    if code not in allowed:
        raise InvalidInput(f'"{value}" is not a language we offer: use {", ".join(allowed[:-1])} or {allowed[-1]}')
    return code
