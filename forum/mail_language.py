"""The language of the mail we write to a member, and its catalogue.

A member who chose a language gets every mail in it: the Welsh Language Standards ask for
correspondence in the language a person chose, even in a bilingual community. A member who
did not choose gets their community's language; a bilingual community's mail to them says
each of our phrases in Welsh first, then English ("Gadael y gymuned / Leave the community"),
one line for both, so neither reader has to find their half of the message.

Mail's own words are marked ``_("…")`` in the mail code and ``{% trans %}`` in the digest
templates; their catalogue is ``forum/translations/cy/LC_MESSAGES/mail.po`` (domain
``mail``), kept apart from the web's so that mail, written by several channels that may not
import each other or Flask, has one catalogue of its own. Nothing here imports Flask: the
catalogues are Babel's, compiled when first needed and loaded once per process.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.dates import format_date
from babel.support import Translations
from sqlalchemy import select
from sqlalchemy.orm import Session

from forum.catalogues import compiled_translations
from forum.languages import BILINGUAL, MEMBER_LANGUAGES
from forum.models import User

TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "mail"
ENGLISH = "en"
SEPARATOR = " / "


def mail_language(member: str | None, community: str | None) -> str:
    """The member's own choice ("cy", "en"), else the community's (or "bilingual"), else English."""
    if member in MEMBER_LANGUAGES:
        return str(member)
    if community in (*MEMBER_LANGUAGES, BILINGUAL):
        return str(community)
    return ENGLISH


def gathered_language(member: str | None, communities: list[str]) -> str:
    """The language of a mail gathering several communities (a digest): the member's choice,
    else the one language all of them speak, else both."""
    if member in MEMBER_LANGUAGES:
        return str(member)
    spoken = set(communities)
    return spoken.pop() if len(spoken) == 1 and spoken <= set(MEMBER_LANGUAGES) else BILINGUAL


class Bilingual(NullTranslations):
    """Each phrase in Welsh, then in English: for a bilingual community's members."""

    def __init__(self, welsh: NullTranslations) -> None:
        super().__init__()
        self.welsh = welsh

    def gettext(self, message: str) -> str:
        return _both(self.welsh.gettext(message), message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return _both(self.welsh.ngettext(msgid1, msgid2, n), msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return _both(self.welsh.pgettext(context, message), message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return _both(self.welsh.npgettext(context, msgid1, msgid2, n), msgid1 if n == 1 else msgid2)


def _both(welsh: str, english: str) -> str:
    return english if welsh == english else f"{welsh}{SEPARATOR}{english}"


@cache
def translations(language: str) -> NullTranslations:
    """Mail's translations into ``language`` ("cy", "en" or "bilingual"), loaded once per process."""
    if language == BILINGUAL:
        return Bilingual(translations("cy"))
    if language == ENGLISH or language not in MEMBER_LANGUAGES:
        return NullTranslations()
    return Translations.load(str(compiled_translations(TRANSLATIONS)), [language], DOMAIN)


def language_for(session: Session, user_id: int | None, community: str | None) -> str:
    """The language of a mail to member ``user_id`` (None: someone with no account) about a
    community whose language is ``community`` (None: about none)."""
    member = session.scalar(select(User.language).where(User.id == user_id)) if user_id is not None else None
    return mail_language(member, community)


def translations_for(session: Session, user_id: int | None, community: str | None) -> NullTranslations:
    """The translations for a mail to member ``user_id`` about a community whose language
    is ``community``: see :func:`language_for`."""
    return translations(language_for(session, user_id, community))


def sender_name(author: str, community: str, language: str) -> str:
    """The From name of mail a member writes through a community: "Alice via Housing Advice",
    "Alice drwy Cyngor Tai". A bilingual mail says the joining word in both, Welsh first
    ("Alice drwy/via Tai Cymru"): the name stays short enough for an inbox's list, where a
    whole name in each language would be cut off after the first."""
    values = {"author": author, "community": community}
    if language == BILINGUAL:
        welsh = translations("cy").pgettext("sender", "via")
        return f"{author} {welsh}/via {community}" if welsh != "via" else f"{author} via {community}"
    _ = translations(language).gettext
    return _("%(author)s via %(community)s") % values


def locale(language: str) -> str:
    """The Babel locale that writes dates for ``language``: a bilingual mail's are Welsh, as
    its Welsh comes first."""
    return "cy" if language == BILINGUAL else language if language in MEMBER_LANGUAGES else ENGLISH


def long_date(day: date, language: str) -> str:
    """ "Monday 7 December 2026", "Dydd Llun 7 Rhagfyr 2026"."""
    return format_date(day, "EEEE d MMMM y", locale=locale(language))
