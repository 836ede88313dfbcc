"""Marking the core's and the channels' words for translation, without translating them here.

Words a platform or the core defines once and a channel shows to people (a chat
platform's help for finding a channel id) are marked ``N_("…")``, gettext's convention
for "translate later": ``pybabel extract`` (babel.cfg) collects them into the catalogue,
and the channel that shows them looks each up in the reader's language. The core cannot
translate: it knows no reader and must not import the web's Flask-Babel.
"""

from __future__ import annotations


def N_(message: str) -> str:  # gettext's conventional name, which pybabel extracts by default
    return message
