"""The chat platforms this site knows, as the core sees them: descriptions, registered.

A platform (Slack, Matrix, …) is described once, in its own module under
``bridges/platforms``: its name (what ``ChatLink.platform`` and its outbox kinds hold),
the label people see, its settings section, the rule its channel ids follow and what a
site must set to bridge it. The core cannot import the bridges, so it does not list
them: the runtime (``listbridge``), which wires the parts together, registers each
platform here before it reads the settings. The command line and the facilitators' page
then offer exactly these, and a new platform touches only its own module and the line
that registers it.

Its settings dataclass is declared in that module too, not in :mod:`forum.config`: kept
there, every platform would need an edit of the core, and the platform's settings would
sit far from the only code that reads them. The core still reads and checks the file:
it has a section per registered platform, where ``[slack]`` and ``[matrix]`` always were,
built and validated like every other section.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from forum.errors import InvalidInput

if TYPE_CHECKING:
    from forum.config import Settings

S = TypeVar("S")
# Stored with each link and post (16 characters), and a settings section's name.
NAME = re.compile(r"[a-z][a-z0-9]{0,15}")


def _no_problem(_options: Any) -> str | None:
    return None


@dataclass(frozen=True, kw_only=True)
class ChatPlatform(Generic[S]):
    name: str  # lower-case; the settings section and the prefix of its outbox kinds too
    label: str  # as people read it: "Slack"
    settings: type[S]  # the dataclass of its section, declared with forum.config.setting
    channel_problem: Callable[[str], str | None]  # why a string is not a channel id, in a sentence
    channel_help: str  # where a facilitator finds a channel's id
    unconfigured: Callable[[S], str | None]  # the setting a site lacks to bridge it ("setting [x] y is empty")
    settings_problem: Callable[[S], str | None] = _no_problem  # settings that cannot work together

    def options(self, settings: Settings) -> S:
        """This platform's section of ``settings`` (its defaults if the file has none)."""
        found = settings.chat.get(self.name)
        return found if found is not None else self.settings()


_registry: dict[str, ChatPlatform[Any]] = {}


def register(platform: ChatPlatform[Any]) -> None:
    """Make ``platform`` known (registering the same one again changes nothing)."""
    if not NAME.fullmatch(platform.name):
        raise ValueError(f"a chat platform's name is a-z and 0-9, at most 16 characters: not {platform.name!r}")
    known = _registry.get(platform.name)
    if known is not None and known is not platform:
        raise ValueError(f"another chat platform is already registered as {platform.name!r}")
    _registry[platform.name] = platform


def registered() -> tuple[ChatPlatform[Any], ...]:
    """The known platforms, in the order they were registered."""
    return tuple(_registry.values())


def names() -> tuple[str, ...]:
    return tuple(_registry)


def named(name: str) -> ChatPlatform[Any]:
    platform = _registry.get(name)
    if platform is None:
        raise InvalidInput(f'unknown chat platform "{name}" (known: {", ".join(_registry)})')
    return platform


def label(name: str) -> str:
    """How people read ``name``; a platform no longer registered (its links remain) keeps its name."""
    platform = _registry.get(name)
    return platform.label if platform is not None else name
