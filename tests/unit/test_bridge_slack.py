"""The pure parts of the Slack bridge: Slack's markup in and out, and who counts as a bot."""

from __future__ import annotations

import pytest

from bridges.base import ChatPost
from bridges.slack import _is_bot, _text, plain_text


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("see <https://example.org|the site>", "see the site (https://example.org)"),
        ("<https://example.org>", "https://example.org"),
        ("hi <@U123> in <#C1|general>", "hi @U123 in #general"),
        ("<!here> look", "@here look"),
    ],
)
def test_slack_markup_becomes_plain_text(slack: str, plain: str) -> None:
    assert plain_text(slack) == plain


def test_outgoing_text_escapes_and_links_to_the_archive() -> None:
    lead = ChatPost(
        author="Ann", subject="<Boiler> & co", text="x < y", archive_url="http://h/c/s/t/1#post-1", starts_thread=True
    )
    assert _text(lead) == "*&lt;Boiler&gt; &amp; co*\nx &lt; y\n<http://h/c/s/t/1#post-1|View in the archive>"
    short = ChatPost(author="Ann", subject="s", text="Fine", archive_url="u", starts_thread=False)
    assert _text(short) == "Fine", "a reply shown whole needs no link"
    long = ChatPost(author="Ann", subject="s", text="word " * 1000, archive_url="u", starts_thread=False)
    assert _text(long).endswith(" …\n<u|View in the archive>")


@pytest.mark.parametrize(
    ("message", "bot"),
    [
        ({"user": "U1", "text": "hi"}, False),
        ({"user": "U1", "bot_id": "B2"}, True),  # another app posting as a user
        ({"subtype": "bot_message", "username": "x"}, True),
        ({"user": "UBOT"}, True),  # our own bot user, as in our own message_changed events
    ],
)
def test_bots_and_our_own_messages_are_recognised_by_id(message: dict[str, str], bot: bool) -> None:
    assert _is_bot(message, {"UBOT", "BBOT"}) is bot
