"""The chat platforms this build bridges: a new platform's module is added to ``PLATFORMS``.

Registered with the core (:mod:`forum.chat_platforms`) by every entry point before it
reads the settings, whose sections they declare: the command line (and so ``serve``) and
the WSGI app.
"""

from __future__ import annotations

from bridges.platforms import matrix, slack
from forum import chat_platforms

PLATFORMS = (slack.PLATFORM, matrix.PLATFORM)


def register() -> None:
    for platform in PLATFORMS:
        chat_platforms.register(platform)
