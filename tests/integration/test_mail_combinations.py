"""Mail as council officers really send it, through a served site's SMTP gateway.

Each message of tests/mail_combinations (an ``.eml`` and the ``.json`` that says what must
come of it) is a combination seen in the wild: Outlook replies quoting their copies
footer and all, Safe Links, URL Defense and Mimecast links, "CAUTION" banners and
``[EXTERNAL]`` tags in English and Welsh, signatures with disclaimers, tracking pixels,
attachments with an inline logo, forwarded mail, phones' signatures. The replies quote
real copies: the ``{{…}}`` placeholders are filled with the members' own reply addresses,
unsubscribe links and a confirmation token, made with the site's secret.

Each must be posted (or refused, or dropped, where that is right) and its copies must
arrive; and none of our tokens, none of the filters' clutter, no "Reply privately"
address and no signature may reach the archive page or its attachments, a copy, a digest
or the stored post (which chat copies are made from: they send ``Post.body``).
"""

from __future__ import annotations

import json
import re
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup, Tag
from sqlalchemy import select

from forum import subscriptions, tokens
from forum.db import make_engine
from forum.models import InboundMessage, Post, PostStatus, UserEmail
from mailgateway import addresses
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "mail_combinations"
LIST = f"housing@{DOMAIN}"
MEMBERS = {
    "alice": ("Alice Evans", "alice.evans@westshire.gov.uk"),
    "bob": ("Bob Hughes", "bob.hughes@anytown.gov.uk"),
    "carol": ("Carys Morgan", "carys.morgan@cyngor-gwynedd.gov.wales"),
    "dave": ("Dave Patel", "d.patel@riverside-ha.org.uk"),
}
READER = "erin.jones@westshire.gov.uk"  # takes the daily digest, never posts
# What the mail filters add; none of it may be shown or sent on.
CLUTTER = (
    "safelinks",
    "urldefense",
    "mimecast",
    "CAUTION:",
    "[EXTERNAL]",
    "[EXT]",
    "originated from outside",
    "RHYBUDD",
    "ALLANOL",
    "cudasvc",
    "clicktime",
    "Learn why this is important",
    "don't often get email",
)


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expected: dict[str, Any]

    @property
    def message_id(self) -> str:
        return re.search(rb"^Message-ID: <([^>]+)>", self.raw, re.M | re.I).group(1).decode()


def cases() -> list[Case]:
    return [
        Case(eml.stem, eml.read_bytes(), json.loads(eml.with_suffix(".json").read_text()))
        for eml in sorted(FIXTURES.glob("*.eml"))
    ]


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink):
    site = ServedSite(tmp_path, db_url, smtp_sink.port, max_message_bytes=2_000_000)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    for name, address in MEMBERS.values():
        site.cli("member", "add", "housing", address, "--name", name)
    site.cli("member", "add", "housing", READER, "--name", "Erin Jones", "--delivery", "daily")
    yield site
    site.stop()


class Personal:
    """Every member's reply address, unsubscribe link and a confirmation token, as the site
    makes them; what the fixtures quote, and what must never be shown again."""

    def __init__(self, served: ServedSite, db_url: str, root_message_id: str) -> None:
        settings = tomllib.loads(served.config.read_text())["site"]
        signer = tokens.Signer(settings["secret_key"])
        self.base = settings["base_url"]
        engine = make_engine(db_url)
        with engine.connect() as conn:
            root = conn.execute(
                select(Post.id, Post.thread_id, Post.community_id).where(Post.message_id == root_message_id)
            ).one()
            self.user_ids = dict(conn.execute(select(UserEmail.email, UserEmail.user_id)).all())
        engine.dispose()
        self.values = {
            "{{LIST}}": LIST,
            "{{BASE}}": self.base,
            "{{THREAD_URL}}": f"{self.base}/c/housing/t/{root.thread_id}#post-{root.id}",
        }
        self.tokens_of: dict[str, set[str]] = {}
        for key, (_name, address) in MEMBERS.items():
            user_id = self.user_ids[address]
            reply = signer.make(tokens.REPLY, user_id, root.id)
            unsubscribe = signer.make(tokens.UNSUBSCRIBE, user_id, root.community_id)
            url = f"{self.base}/unsubscribe/{unsubscribe}"
            self.values |= {
                f"{{{{REPLY:{key}}}}}": f"housing+{reply}@{DOMAIN}",
                f"{{{{UNSUB:{key}}}}}": url,
                f"{{{{UNSUB_ENCODED:{key}}}}}": quote(url, safe=""),
                # A client that wraps long lines put the token on the next one.
                f"{{{{UNSUB_SPLIT:{key}}}}}": f"{self.base}/unsubscribe/\r\n{unsubscribe}",
            }
            self.tokens_of[address] = {reply, unsubscribe}
        confirm = signer.make(subscriptions.CONFIRM, 4242, ttl_seconds=3600)
        self.values |= {
            "{{CONFIRM_URL}}": f"{self.base}{subscriptions.CONFIRM_PATH}{confirm}",
            "{{CONFIRM_ADDRESS}}": addresses.confirm_address("housing", DOMAIN, confirm),
        }
        self.tokens_of["nobody"] = {confirm}

    def fill(self, raw: bytes) -> bytes:
        text = raw.decode("utf-8")
        for placeholder, value in self.values.items():
            text = text.replace(placeholder, value)
        assert "{{" not in text, re.findall(r"\{\{[^}]*\}\}", text)
        return text.encode("utf-8")

    def all_tokens(self) -> set[str]:
        return set().union(*self.tokens_of.values())

    def tokens_not_of(self, address: str) -> set[str]:
        return self.all_tokens() - self.tokens_of.get(address, set())


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The tokens, clutter and footer lines of ours found in ``text``."""
    lowered = text.lower()
    found = [s for s in secrets if s.lower() in lowered]
    found += [c for c in CLUTTER if c.lower() in lowered]
    found += [
        f
        for f in ("Reply privately", "/unsubscribe/", "housing+", "housing-confirm+", "/confirm/")
        if f.lower() in lowered
    ]
    return found


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode("utf-8", "replace")


def words(text: str) -> str:
    return " ".join(text.split())


def test_realistic_mail_combinations(served: ServedSite, smtp_sink: SmtpSink, db_url: str) -> None:
    all_cases = cases()
    assert len(all_cases) >= 30
    served.start()
    started = time.monotonic()
    root, *rest = all_cases
    assert served.send(MEMBERS["alice"][1], [LIST], root.raw)[0] == 250
    served.wait_until_processed()
    personal = Personal(served, db_url, root.message_id)

    for case in rest:
        sender = MEMBERS[case.expected["from"]][1] if case.expected["from"] in MEMBERS else case.expected["from"]
        rcpt = (
            LIST if case.expected["rcpt"] == "list" else personal.values[f"{{{{REPLY:{case.expected['rcpt'][6:]}}}}}"]
        )
        code, text = served.send(sender, [rcpt], personal.fill(case.raw))
        if case.expected["outcome"] == "rejected":
            assert code == 550 and case.expected["reason"] in text, (case.name, code, text)
        else:
            assert code == 250, (case.name, code, text)
    served.wait_until_processed()

    posted = [c for c in all_cases if c.expected["outcome"] == "posted"]
    refused = [c for c in all_cases if c.expected["outcome"] == "refused"]
    copies_each = len(MEMBERS) - 1
    mail = smtp_sink.wait_for(len(posted) * copies_each + len(refused), timeout=60)
    sent_after = time.monotonic() - started

    engine = make_engine(db_url)
    with engine.connect() as conn:
        posts = {
            p.message_id: p
            for p in conn.execute(
                select(
                    Post.id,
                    Post.thread_id,
                    Post.message_id,
                    Post.subject,
                    Post.body,
                    Post.html,
                    Post.quoted,
                    Post.signature,
                    Post.status,
                )
            )
        }
        outcomes = [row.outcome for row in conn.execute(select(InboundMessage.outcome))]
    engine.dispose()
    secrets = personal.all_tokens()

    for case in all_cases:
        outcome = case.expected["outcome"]
        if outcome != "posted":
            assert case.message_id not in posts, case.name
            if outcome == "refused":
                assert any(
                    case.expected["reason"] in (o or "") and "the sender was told" in (o or "") for o in outcomes
                ), case.name
                notice = [
                    m
                    for m in mail
                    if "Not posted" in str(m.message["Subject"]) and m.message["In-Reply-To"] == f"<{case.message_id}>"
                ]
                assert [m.rcpt_tos for m in notice] == [[MEMBERS[case.expected["from"]][1]]], case.name
            continue
        post = posts[case.message_id]
        assert post.status is PostStatus.published, case.name
        stored = " ".join((post.subject, post.body, post.html or "", post.quoted, post.signature))
        assert not leaks(stored, secrets), (case.name, leaks(stored, secrets))
        # Quoted header blocks and attributions name members; their addresses stay hidden.
        assert not [a for _n, a in MEMBERS.values() if a in stored], case.name
        if "subject" in case.expected:
            assert post.subject == case.expected["subject"], case.name
        for shown in case.expected.get("signature", ()):
            assert shown in post.signature and shown not in post.body, (case.name, shown)

        copies = [m for m in mail if m.message["Message-ID"] == f"<{case.message_id}>"]
        author = MEMBERS[case.expected["from"]][1]
        assert sorted(r for m in copies for r in m.rcpt_tos) == sorted(
            a for _n, a in MEMBERS.values() if a != author
        ), case.name
        for copy in copies:
            recipient = copy.rcpt_tos[0]
            text = copy.message.get_body(("plain",)).get_content()
            html = copy.message.get_body(("html",)).get_content()
            # What the post brought, without the footer that is the recipient's own.
            own_text, own_html = re.split(r"\r?\n-- \r?\n", text)[0], html.split('role="presentation"')[1]
            found = leaks(f"{copy.message['Subject']} {own_text} {own_html}", secrets)
            found += [t for t in personal.tokens_not_of(recipient) if t in copy.message.as_string()]
            assert not found, (case.name, recipient, found)
            assert words(case.expected["shows"][0]) in words(text), (case.name, text)
            for signature in case.expected.get("signature", ()):
                assert signature not in own_text and signature not in own_html, (case.name, signature)
            attached = [part.get_filename() for part in copy.message.iter_attachments()]
            assert all(name in attached for name in case.expected.get("copy_attachments", ())), (case.name, attached)

    for thread_id in {posts[c.message_id].thread_id for c in posted}:
        page = fetch(f"{personal.base}/c/housing/t/{thread_id}")
        assert not leaks(page, secrets), (thread_id, leaks(page, secrets))
        assert "mailto:" not in page
        assert not [a for _n, a in MEMBERS.values() if a in page], thread_id
        soup = BeautifulSoup(page, "html.parser")
        for case in (c for c in posted if posts[c.message_id].thread_id == thread_id):
            article = soup.find("article", id=f"post-{posts[case.message_id].id}")
            body = article.find("div", class_="post-body")
            assert isinstance(body, Tag), case.name
            visible = words(body.get_text(" ") + " " + " ".join(str(a["href"]) for a in body.find_all("a", href=True)))
            for shown in [*case.expected["shows"], *case.expected.get("page_shows", ())]:
                assert words(shown) in visible, (case.name, shown, visible)
            for hidden in [*case.expected.get("hides", ()), *case.expected.get("page_hides", ())]:
                assert hidden not in visible and hidden not in str(body), (case.name, hidden)
            for shown in case.expected.get("quoted_shows", ()):
                fold = article.find("details", class_="quoted")
                assert fold is not None and words(shown) in words(fold.pre.get_text()), (case.name, shown)
            if case.expected.get("signature"):
                fold = article.find("details", class_="signature")
                assert fold is not None and "Show signature" in fold.summary.get_text(), case.name
                assert all(s in fold.pre.get_text() for s in case.expected["signature"]), case.name
            for name in case.expected.get("attachments", ()):
                link = article.find("a", string=name)
                assert link is not None, (case.name, name)
                download = fetch(personal.base + link["href"])
                assert not [t for t in secrets if t in download], (case.name, name)

    digest_text = served.cli("digest", "preview", READER).stdout
    digest_html = served.cli("digest", "preview", READER, "--html").stdout
    assert "Working group on Thursday" in digest_text and "Working group on Thursday" in digest_html
    for rendered in (digest_text, digest_html):
        found = [t for t in secrets if t in rendered] + [c for c in CLUTTER if c.lower() in rendered.lower()]
        found += [s for c in posted for s in c.expected.get("signature", ()) if s in rendered]
        assert not found, found
    print(f"{len(all_cases)} messages, {len(mail)} copies and notices at the sink {sent_after:.1f} s after the first")
