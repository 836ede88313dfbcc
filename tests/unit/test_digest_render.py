"""What a digest says and how: excerpts of the author's own words, subjects, and HTML that
mail clients render (no tables, no stylesheet, everything escaped)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from gettext import NullTranslations
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from digest.excerpt import excerpt
from digest.render import WHEN, Renderer, load_templates
from forum import tokens
from forum.digests import SLOT, Block, CommunityRef, NewPost, Value, assemble
from forum.models import Delivery
from forum.tokens import Signer

SIGNED = "Thanks, that helps.\n\n-- \nAlice Adviser\nHousing Officer"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Plain words.", "Plain words."),
        ("Lines\nrun   together\n\ninto one.", "Lines run together into one."),
        (SIGNED, "Thanks, that helps."),
        ("Yes.\n--\nsig without the space", "Yes."),
        ("On Tue, 3 Mar 2026 at 10:00, Bob <bob@x.org> wrote:\n> the question\n> more\n\nMy answer.", "My answer."),
        ("Agreed.\n\nLe mar. 3 mars 2026 à 10:00, Bob a écrit :\n> la question", "Agreed."),
        ("> quoted first\nthen mine\n> quoted again\nand more mine", "then mine and more mine"),
        ("Top post.\n\n-----Original Message-----\nFrom: Bob\nSent: Tuesday", "Top post."),
        ("Outlook style.\n\nFrom: Bob Surveyor <bob@x.org>\nSent: 03 March 2026 10:00\nTo: housing", "Outlook style."),
        ("From: the council's point of view, this works.", "From: the council's point of view, this works."),
        ("Nothing \x00hidden\ue000 here", "Nothing hidden here"),
    ],
)
def test_excerpt_keeps_the_authors_own_words(body: str, expected: str) -> None:
    assert excerpt(body) == (expected, False)


def test_a_long_excerpt_is_cut_at_a_word() -> None:
    words, cut = excerpt("word " * 100, limit=32)
    assert cut and words == "word word word word word word…"
    words, cut = excerpt("x" * 50, limit=10)
    assert cut and words == "xxxxxxxxxx…"


@pytest.mark.parametrize(
    ("period", "posts", "communities", "expected"),
    [
        (Delivery.daily, 12, 3, "Daily digest: 12 new posts in 3 communities"),
        (Delivery.daily, 1, 1, "Daily digest: 1 new post in 1 community"),
        (Delivery.weekly, 1234, 2, "Weekly digest: 1,234 new posts in 2 communities"),
    ],
)
def test_subject(period: Delivery, posts: int, communities: int, expected: str) -> None:
    assert RENDERER.subject(period, posts, communities) == expected


RENDERER = Renderer("Council <Forums>", "https://forum.example.org/", "lists.example.org")
HOUSING = CommunityRef(3, "housing", "Housing & <Homes>")
POST = NewPost(
    publication=9,
    id=56,
    community_id=3,
    thread_id=12,
    thread_subject="<script>alert(1)</script> Rents\ue000",
    author="eve@example.org",
    created_at=datetime(2026, 3, 3, 9, 14, tzinfo=UTC),
    body="Rents rose <b>5%</b> & more.",
)


class Elements(HTMLParser):
    """Collects tags, their styles and links; fails on a closing tag that does not match."""

    VOID = frozenset({"meta", "br", "hr", "img"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.unstyled: list[str] = []
        self.links: list[str] = []
        self.open: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if tag in {"p", "h1", "h2", "h3", "div", "a", "span", "strong", "body"} and not found.get("style"):
            self.unstyled.append(tag)
        if tag == "a":
            self.links.append(found["href"] or "")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing open"

    def handle_data(self, data: str) -> None:
        self.text += data


SIGNER = Signer("unit-test-secret-0123456789")
READER = 7
REPLY_TOKEN = SIGNER.make(tokens.REPLY, READER, POST.id)
LEAVE_TOKEN = SIGNER.make(tokens.UNSUBSCRIBE, READER, HOUSING.id)


def digest(renderer: Renderer = RENDERER, post: NewPost = POST) -> tuple[str, str]:
    local = post.created_at
    parts: list[tuple[Block, Value | None]] = [
        (renderer.opening(Delivery.daily, 1, 1, local, "Europe/London"), None),
        (renderer.community_heading(HOUSING, 1, 1), None),
        (renderer.thread_heading(HOUSING, post, new=True), None),
        (
            renderer.in_zone(
                renderer.post(HOUSING, post, renderer.post_body(HOUSING, post)), post, ZoneInfo("Europe/London")
            ),
            None,
        ),
        (renderer.reply(HOUSING, post), (tokens.REPLY, post.id)),
        (renderer.community_footing(HOUSING), (tokens.UNSUBSCRIBE, HOUSING.id)),
        (renderer.closing(Delivery.daily), None),
    ]
    return assemble(SIGNER, READER, parts)


def test_html_is_simple_inline_styled_and_well_formed() -> None:
    _, markup = digest()
    parsed = Elements()
    parsed.feed(markup)
    parsed.close()
    assert parsed.open == []
    assert not {"table", "style", "script", "img", "link"} & set(parsed.tags)
    assert parsed.unstyled == [], "every element carries its own style (Outlook does not inherit)"
    assert "class=" not in markup
    assert parsed.links == [
        "https://forum.example.org/c/housing/",
        "https://forum.example.org/c/housing/t/12",
        "https://forum.example.org/c/housing/t/12#post-56",
        f"mailto:housing+{REPLY_TOKEN}@lists.example.org?subject=Re%3A%20%3Cscript%3Ealert%281%29%3C/script%3E%20Rents",
        "https://forum.example.org/c/housing/membership",
        f"https://forum.example.org/unsubscribe/{LEAVE_TOKEN}",
    ]


def test_what_people_wrote_is_escaped_and_cannot_reach_a_slot() -> None:
    text, markup = digest()
    assert "<script>" not in markup and "&lt;script&gt;alert(1)&lt;/script&gt; Rents" in markup
    assert "Housing &amp; &lt;Homes&gt;" in markup and "Council &lt;Forums&gt;" in markup
    assert "Rents rose &lt;b&gt;5%&lt;/b&gt; &amp; more." in markup
    assert SLOT not in text + markup and WHEN not in text + markup
    assert "eve" not in text + markup, "an author's address is not shown, not even spelled out"


def test_plain_text_reads_on_its_own() -> None:
    text, _ = digest()
    assert text.startswith("Daily digest: 1 new post in 1 community\nCouncil <Forums>, Tuesday 3 March 2026")
    assert "[new] <script>alert(1)</script> Rents\n" in text
    assert "  Someone, 3 Mar 2026, 09:14 GMT\n  Rents rose <b>5%</b> & more.\n" in text
    assert "https://forum.example.org/c/housing/t/12#post-56" in text
    assert f"Reply to this thread by email: housing+{REPLY_TOKEN}@lists.example.org" in text
    assert f"Leave Housing & <Homes>: https://forum.example.org/unsubscribe/{LEAVE_TOKEN}" in text
    assert all(len(line) <= 80 for line in text.splitlines() if "://" not in line and "@" not in line)


def test_a_stored_digest_can_ask_only_for_reply_and_unsubscribe_tokens() -> None:
    block = Block(f"go {SLOT}", f"go {SLOT}")
    assert assemble(SIGNER, READER, [(block, (tokens.UNSUBSCRIBE, 3))]) == (
        f"go {SIGNER.make(tokens.UNSUBSCRIBE, READER, 3)}",
        f"go {SIGNER.make(tokens.UNSUBSCRIBE, READER, 3)}",
    )
    with pytest.raises(ValueError, match="may not carry 'login' tokens"):
        assemble(SIGNER, READER, [(block, ("login", 3))])


class Marked(NullTranslations):
    """A pseudo-translation: every phrase that goes through gettext comes back in ⟦ ⟧."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return f"⟦{msgid1 if n == 1 else msgid2}⟧"


def test_every_phrase_a_digest_says_is_translatable() -> None:
    """What is left outside the marks is what people wrote, links, addresses and times."""
    renderer = replace(RENDERER, signer=SIGNER, templates=load_templates(Marked()))
    text, markup = digest(renderer, replace(POST, author_id=5))
    parsed = Elements()
    parsed.feed(markup)
    assert "⟦Reply privately to %(author)s: %(address)s⟧" not in text, "variables are filled in"
    assert "⟦Reply privately⟧" in parsed.text and "⟦Someone⟧" in parsed.text
    # Dates and times are written by Babel in the renderer's language, not by the catalogue.
    times = ("Tuesday 3 March 2026", "3 Mar 2026, 09:14 GMT")
    for output in (text, parsed.text):
        left = output
        while (unmarked := re.sub(r"⟦[^⟦⟧]*⟧", " ", left)) != left:
            left = unmarked
        for wrote in (
            *times,
            HOUSING.name,
            "<script>alert(1)</script> Rents",
            "Rents rose <b>5%</b> & more.",
            "Council <Forums>",
        ):
            left = left.replace(wrote, " ")
        left = re.sub(r"\S+://\S+|\S+@\S+", " ", left)
        assert not re.search(r"[^\W\d_]", left), left


def test_a_welsh_digest_speaks_welsh_and_dates_in_welsh() -> None:
    welsh = replace(RENDERER, language="cy")
    assert welsh.subject(Delivery.weekly, 1234, 2) == "Crynodeb wythnosol: 1,234 neges newydd mewn 2 cymuned"
    opening = welsh.opening(Delivery.daily, 3, 1, datetime(2026, 3, 3, 7, tzinfo=UTC), "Europe/London")
    assert "Dydd Mawrth 3 Mawrth 2026 (amseroedd yn ôl Europe/London)" in opening.text
    written = welsh.in_zone(welsh.post(HOUSING, POST, welsh.post_body(HOUSING, POST)), POST, ZoneInfo("Europe/London"))
    assert "Rhywun, 3 Maw 2026, 09:14 GMT" in written.text, "no name: Someone, in Welsh; the time in Welsh"


def test_a_bilingual_digest_says_welsh_first_and_never_cuts_a_sentence() -> None:
    both = replace(RENDERER, language="bilingual")
    assert both.subject(Delivery.daily, 12, 3) == (
        "Crynodeb dyddiol: 12 neges newydd mewn 3 cymuned / Daily digest: 12 new posts in 3 communities"
    )
    opening = both.opening(Delivery.daily, 12, 3, datetime(2026, 12, 7, 7, tzinfo=UTC), "Europe/London")
    for output in (opening.text, opening.html):
        assert output.index("Dydd Llun 7 Rhagfyr 2026") < output.index("Monday 7 December 2026")
    heading = both.community_heading(HOUSING, 3, 2)
    assert "Housing & <Homes>: 3 neges newydd mewn 2 edefyn" in heading.text
    assert heading.text.index("mewn 2 edefyn") < heading.text.index("Housing & <Homes>: 3 new posts in 2 threads")
    reply = both.reply(HOUSING, POST)
    assert "Ateb yr edefyn hwn drwy e-bost: " in reply.text and " / Reply to this thread by email: " in reply.text
