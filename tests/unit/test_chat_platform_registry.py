"""The core's registry of chat platforms: a name is taken once, and fits where it is stored."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bridges.platforms import ChatBridge
from forum import chat_platforms
from forum.errors import InvalidInput


def test_a_name_is_registered_once_and_fits_its_columns(loopback: ChatBridge[Any]) -> None:
    chat_platforms.register(loopback)  # again: nothing changes
    assert chat_platforms.names() == ("slack", "matrix", "loopback")
    with pytest.raises(ValueError, match="already registered as 'loopback'"):
        chat_platforms.register(replace(loopback, label="Another loopback"))
    for name in ("Loopback", "loop_back", "a" * 17, ""):
        with pytest.raises(ValueError, match="a-z and 0-9, at most 16 characters"):
            chat_platforms.register(replace(loopback, name=name))
    assert chat_platforms.names() == ("slack", "matrix", "loopback")


def test_an_unknown_platform_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r'unknown chat platform "irc" \(known: slack, matrix\)'):
        chat_platforms.named("irc")
    assert chat_platforms.label("irc") == "irc"  # a link left by a platform no longer registered
    assert chat_platforms.label("matrix") == "Matrix"
