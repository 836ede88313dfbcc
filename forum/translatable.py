"""Marking the core's and the channels' words for translation, without translating them here.

Words a platform or the core defines once and a channel shows to people (a chat
platform's help for finding a channel id) are marked ``N_("…")``, gettext's convention
for "translate later": ``pybabel extract`` (babel.cfg) collects them into the catalogue,
and the channel that shows them looks each up in the reader's language. The core cannot
translate: it knows no reader and must not import the web's Flask-Babel.

A sentence of the core's that reaches a person (why a post was refused, why a link does
not work) is a :class:`Message`: its English text, marked ``N_``, is its id in the core's
catalogue (``forum/translations``, mail's domain), with named values. Its English is what
protocols say (an SMTP reply is protocol text) and logs record; each channel renders it in
its reader's language: the web in the page's, mail in the member's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


def N_(message: str) -> str:  # gettext's conventional name, which pybabel extracts by default
    return message


@dataclass(frozen=True)
class Message:
    """A sentence for a person, to translate where it is shown: ``id`` (English, marked
    ``N_`` where it is written) with ``%(name)s`` placeholders, and their ``values``.

    Like every message of the core it starts in lower case and has no full stop: it may
    end an SMTP reply; a page or a mail makes a sentence of it."""

    id: str
    values: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.render(str)

    def render(self, gettext: Callable[[str], str]) -> str:
        """The message through ``gettext`` (a catalogue's), its values put in."""
        text = gettext(self.id)
        return text % self.values if self.values else text
