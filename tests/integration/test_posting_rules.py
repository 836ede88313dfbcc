"""Posting rules a community of practice needs, over SMTP against a real ``listbridge serve``:
announcement lists, a newcomer's first posts reviewed, and deciding a held post by
answering the mail that says it waits."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import Received, SmtpSink

pytestmark = pytest.mark.integration

UPSTREAM = "mx.council.example"
FIONA, ALICE, BOB = "fiona@council.example", "alice@council.example", "bob@council.example"


def vouched(domain: str = "council.example") -> str:
    """What the site's trusted upstream MTA writes of mail it saw come from ``domain``."""
    return (
        f"Authentication-Results: {UPSTREAM}; dkim=pass header.d={domain}; "
        f"spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}\r\n"
    )


FORGED = f"Authentication-Results: {UPSTREAM}; dmarc=fail (p=reject) header.from=council.example\r\n"


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> Iterator[ServedSite]:
    """News (announcements: Fiona facilitates, Alice and Bob are members) and Newcomers
    (members post; a member's first 2 posts are reviewed), behind an upstream that vouches."""
    site = ServedSite(tmp_path, db_url, smtp_sink.port, smtp_in=f'trusted_authserv_ids = ["{UPSTREAM}"]')
    copy_head_schema(db_url)
    site.cli("community", "create", "news", "--name", "Network News", "--policy", "announce")
    site.cli("community", "create", "newcomers", "--name", "Newcomers", "--moderate-new", "2")
    for slug in ("news", "newcomers"):
        site.cli("member", "add", slug, FIONA, "--name", "Fiona Facilitator", "--role", "facilitator")
        for who in (ALICE, BOB):
            site.cli("member", "add", slug, who, "--name", who.split("@")[0].title())
    site.start()
    yield site
    site.stop()


def text_of(received: Received) -> str:
    return received.message.get_body(("plain",)).get_content()


def settle(site: ServedSite, sink: SmtpSink, expected: int) -> list[Received]:
    """What the site sent once it processed what it accepted: exactly ``expected`` more."""
    before = len(sink.messages)
    site.wait_until_processed()
    sink.wait_for(before + expected)
    time.sleep(1.0)
    got = sink.messages[before:]
    assert len(got) == expected, [(m.rcpt_tos, m.message["Subject"]) for m in got]
    return got


def send(
    site: ServedSite, sender: str, to: str, subject: str, body: str, mid: str, headers: str = ""
) -> tuple[int, str]:
    return site.send(sender, [to], mail(sender, to, subject, body, mid, headers or vouched()))


class TestAnnouncements:
    def test_members_are_pointed_to_the_facilitators_and_facilitators_reach_everyone(
        self, served: ServedSite, smtp_sink: SmtpSink
    ) -> None:
        code, text = send(served, BOB, f"news@{DOMAIN}", "My news", "Announce A1 marker.", "a1@council.example")
        assert code == 550, text
        assert f"news-owner@{DOMAIN}" in text and "only its facilitators post" in text
        assert FIONA not in text, "a facilitator's own address is never given out"
        code, text = send(served, FIONA, f"news@{DOMAIN}", "Official", "Announce A2 marker.", "a2@council.example")
        assert code == 250, text
        copies = settle(served, smtp_sink, 2)
        assert sorted(r for m in copies for r in m.rcpt_tos) == [ALICE, BOB]
        assert all("Announce A2 marker." in text_of(m) for m in copies)

    def test_a_members_reply_to_an_announcement_is_refused_the_same_way(
        self, served: ServedSite, smtp_sink: SmtpSink
    ) -> None:
        send(served, FIONA, f"news@{DOMAIN}", "Closures", "Offices shut on Friday.", "c1@council.example")
        copies = settle(served, smtp_sink, 2)
        reply_to = next(m for m in copies if m.rcpt_tos == [ALICE]).message["Reply-To"]
        found = re.search(r"[\w.+-]+@[\w.-]+", reply_to)
        assert found, reply_to
        address = found.group(0)
        code, text = send(served, ALICE, address, "Re: Closures", "Thanks!", "c2@council.example")
        assert code == 550 and f"news-owner@{DOMAIN}" in text


class TestNewcomersFirstPosts:
    def test_a_members_first_posts_wait_for_a_moderator_then_flow(
        self, served: ServedSite, smtp_sink: SmtpSink
    ) -> None:
        code, text = send(served, ALICE, f"newcomers@{DOMAIN}", "Hello", "First post.", "n1@council.example")
        assert code == 250 and "held for moderation" in text and "first posts are reviewed" in text
        notices = settle(served, smtp_sink, 2)  # Alice is told it waits; Fiona is asked to decide
        to_fiona = next(m for m in notices if m.rcpt_tos == [FIONA])
        assert "reply to this email with the word approve" in text_of(to_fiona)
        code, text = send(
            served, FIONA, f"newcomers@{DOMAIN}", "Welcome", "Facilitators are not held.", "n2@council.example"
        )
        assert code == 250 and "held" not in text
        settle(served, smtp_sink, 2)
        # Approved by answering the notice: then one more is reviewed, and after that none.
        answer = to_fiona.message["Reply-To"]
        code, text = send(served, FIONA, answer, "Re: awaiting", "approve\r\n\r\n> First post.", "n3@council.example")
        assert code == 250, text
        sent = settle(served, smtp_sink, 3)  # Bob's copy, Fiona's copy, Fiona's confirmation
        assert any(m.rcpt_tos == [BOB] and "First post." in text_of(m) for m in sent)
        code, text = send(served, ALICE, f"newcomers@{DOMAIN}", "Again", "Second post.", "n4@council.example")
        assert "held for moderation" in text
        settle(served, smtp_sink, 1)  # Fiona's notice (Alice heard today already)
        served.cli("held", "approve", str(_held_id(served, "newcomers")))
        settle(served, smtp_sink, 2)
        code, text = send(served, ALICE, f"newcomers@{DOMAIN}", "Third", "Third post.", "n5@council.example")
        assert code == 250 and "held" not in text, "two posts published: Alice posts freely now"


def _held_id(site: ServedSite, slug: str) -> int:
    listing = site.cli("held", "list", slug).stdout
    found = re.search(r"^\s*(\d+)\b", listing, re.M)
    assert found, listing
    return int(found.group(1))


class TestDecidingByMail:
    def _held_notice(self, served: ServedSite, sink: SmtpSink) -> Received:
        """Bob's first post held: the notice Fiona gets (Bob is told too)."""
        code, text = send(served, BOB, f"newcomers@{DOMAIN}", "Idea 1", "Idea number 1.", "i1@council.example")
        assert code == 250 and "held for moderation" in text
        notices = settle(served, sink, 2)
        return next(m for m in notices if m.rcpt_tos == [FIONA])

    def test_reject_with_a_reason_tells_the_author_and_the_same_answer_cannot_act_twice(
        self, served: ServedSite, smtp_sink: SmtpSink
    ) -> None:
        notice = self._held_notice(served, smtp_sink)
        answer = notice.message["Reply-To"]
        assert answer.startswith("newcomers-moderate+") and FIONA not in answer
        code, text = send(served, FIONA, answer, "Re: x", "Reject: off topic for this list\r\n", "r1@council.example")
        assert code == 250, text
        sent = settle(served, smtp_sink, 2)
        to_bob = next(m for m in sent if m.rcpt_tos == [BOB])
        assert "off topic for this list" in text_of(to_bob)
        confirmation = next(m for m in sent if m.rcpt_tos == [FIONA])
        assert confirmation.message["Subject"].startswith("Rejected")
        code, text = send(served, FIONA, answer, "Re: x", "approve", "r2@council.example")
        assert code == 250
        again = settle(served, smtp_sink, 1)
        assert again[0].rcpt_tos == [FIONA] and "already" in text_of(again[0])
        assert not any("Idea number 1." in text_of(m) for m in again)

    def test_welsh_words_decide_too(self, served: ServedSite, smtp_sink: SmtpSink) -> None:
        notice = self._held_notice(served, smtp_sink)
        send(served, FIONA, notice.message["Reply-To"], "Re: x", "Cymeradwyo, diolch", "w1@council.example")
        sent = settle(served, smtp_sink, 3)
        assert any(m.rcpt_tos == [ALICE] and "Idea number 1." in text_of(m) for m in sent)

    def test_a_forged_from_and_another_members_answer_are_refused(
        self, served: ServedSite, smtp_sink: SmtpSink
    ) -> None:
        notice = self._held_notice(served, smtp_sink)
        answer = notice.message["Reply-To"]
        code, text = send(served, FIONA, answer, "Re: x", "approve", "f1@council.example", FORGED)
        assert code == 550 and "shows it sent it" in text
        code, text = send(served, ALICE, answer, "Re: x", "approve", "f2@council.example")
        assert code == 550 and "only from the moderator the notice was sent to" in text
        code, text = send(served, FIONA, answer.replace("+", "+x", 1), "Re: x", "approve", "f3@council.example")
        assert code == 550, "a token we did not make is refused at RCPT"
        served.wait_until_processed()
        time.sleep(1.0)
        assert len(smtp_sink.messages) == 2, "nothing published, nobody answered"
        assert "Idea 1" in served.cli("held", "list", "newcomers").stdout
