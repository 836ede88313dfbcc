"""Bounces: real and realistic delivery reports read right, scored per membership, mail stopped
past the threshold with the facilitators told, re-enabled in one click, and never posted.

Samples, and where their shape comes from:

* Postfix DSNs: Discourse's fixtures in the shared corpus, read in place.
* Sendmail's plain-text "Returned mail": flufl.bounce's test data ``sendmail_02.txt`` (GNU
  Mailman's bounce library), a real bounce kept verbatim below.
* Microsoft 365 / Exchange Online NDR: the layout of its non-delivery reports (Microsoft's
  "Email non-delivery reports in Exchange Online" documents 5.1.10 RecipientNotFound and the
  5.4.1 "Access denied. AS(201806281)" directory-based edge block), addresses ours.
* Gmail's "Address not found" and "over quota" reports: the DSN Gmail sends from
  mailer-daemon@googlemail.com, with its X-Failed-Recipients header.
* qmail: the example in D. J. Bernstein's QSBMF specification (cr.yp.to/proto/qsbmf.txt).
* Exim 3 / old Exim 4 plain text: its default bounce wording ("This message was created
  automatically by mail delivery software").
* A delay warning: RFC 3464 ``Action: delayed``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from forum import bounces
from forum.models import Delivery, Membership, OutboxItem, Post, Role, UserEmail, utcnow
from forum.site import Site
from mailgateway.incoming import judging, processing, spooling
from mailgateway.incoming.bounces import read_report
from tests.corpus import require_corpus
from tests.support import make_community, make_member

VERP = "housing-bounces+alice=council.example@lists.example.org"


def dsn(
    status: str,
    diagnostic: str,
    action: str = "failed",
    rcpt: str = "alice@council.example",
    extra_headers: str = "",
    human: str = "Delivery has failed to these recipients or groups:",
) -> bytes:
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: {VERP}\r\n"
        f"Subject: Undeliverable: Damp and mould\r\n{extra_headers}MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        f"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{human}\r\n\r\n{rcpt}\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.outlook.com\r\nArrival-Date: Sat, 28 Nov 2026 09:00:00 +0000\r\n\r\n"
        f"Final-Recipient: rfc822;{rcpt}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp;{diagnostic}\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Housing <housing@lists.example.org>\r\n"
        "Subject: Damp and mould\r\n\r\n--b1--\r\n"
    ).encode()


EXCHANGE_ONLINE = dsn("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")
EXCHANGE_EDGE_BLOCK = dsn(
    "5.4.1",
    "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM0PR01MB1234.eurprd01.prod.outlook.com]",
)
GMAIL_NOT_FOUND = dsn(
    "5.1.1",
    "smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
    extra_headers="X-Failed-Recipients: alice@council.example\r\n",
    human="** Address not found **\r\n\r\nYour message wasn't delivered to alice@council.example "
    "because the address couldn't be found, or is unable to receive mail.",
)
GMAIL_OVER_QUOTA = dsn(
    "4.2.2",
    "smtp; 452-4.2.2 The email account that you tried to reach is over quota.",
    extra_headers="X-Failed-Recipients: alice@council.example\r\n",
)
SPAM_REFUSAL = dsn("5.7.1", "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Spamhaus")
DELAYED = dsn("4.4.7", "smtp; 451 4.4.7 Message delayed", action="delayed")

QMAIL = b"""From: MAILER-DAEMON@silverton.berkeley.edu
To: housing-bounces+alice=council.example@lists.example.org
Subject: failure notice

Hi. This is the qmail-send program at silverton.berkeley.edu.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<alice@council.example>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <housing-bounces+alice=council.example@lists.example.org>
Subject: Damp and mould

Has anyone had a user unknown error before?
"""

SENDMAIL = b"""MIME-Version: 1.0
Auto-Submitted: auto-generated (failure)
From: <>
Subject: Returned mail: see transcript for details
To: <noreply@example.com>
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

The original message was received at Sun, 4 Nov 2012 10:32:05 +0400 (MSK)
from lestrade.peterlink.ru [195.242.2.15]

   ----- The following addresses had permanent fatal errors -----
<foo@rbd.spb.ru>
    (reason: 550 5.1.1 User unknown)

   ----- Transcript of session follows -----
... while talking to mx.rbd.spb.ru:
>>> DATA
<<< 550 5.1.1 User unknown
550 5.1.1 <foo@rbd.spb.ru>... User unknown
<<< 503 5.5.2 Need Rcpt command.

   ----- Message header follows -----

Received: from lestrade.peterlink.ru (lestrade.peterlink.ru [195.242.2.15])
\tby mortimer.peterlink.ru (8.12.6/8.14.2) with ESMTP id qA46W5eh054985
\tfor <foo@rbd.spb.ru>; Sun, 4 Nov 2012 10:32:05 +0400 (MSK)
"""

EXIM_MAILBOX_FULL = b"""From: Mail Delivery System <Mailer-Daemon@mx.council.example>
To: housing-bounces+alice=council.example@lists.example.org
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: alice@council.example
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  alice@council.example
    SMTP error from remote mail server after RCPT TO:<alice@council.example>:
    host mail.council.example [192.0.2.7]: 552 5.2.2 Mailbox full

------ This is a copy of the message, including all the headers. ------

Subject: Damp and mould
"""

OUT_OF_OFFICE = b"""From: Alice <alice@council.example>
To: housing-bounces+alice=council.example@lists.example.org
Subject: Automatic reply: Damp and mould
Auto-Submitted: auto-replied

I am out of the office until Monday.
"""


@pytest.mark.parametrize(
    ("raw", "status", "hard"),
    [
        (EXCHANGE_ONLINE, "5.1.10", True),
        (EXCHANGE_EDGE_BLOCK, "5.4.1", True),
        (GMAIL_NOT_FOUND, "5.1.1", True),
        (GMAIL_OVER_QUOTA, "4.2.2", False),
        (SPAM_REFUSAL, "5.7.1", False),
        (QMAIL, "5.1.1", True),
        (SENDMAIL, "5.1.1", True),
        (EXIM_MAILBOX_FULL, "5.2.2", False),
    ],
    ids=[
        "exchange-online",
        "exchange-edge-block",
        "gmail-not-found",
        "gmail-over-quota",
        "spam-refusal",
        "qmail",
        "sendmail",
        "exim-mailbox-full",
    ],
)
def test_reports_are_read_with_status_and_hardness(raw: bytes, status: str, hard: bool) -> None:
    report = read_report(raw)
    assert report is not None and report.failures, "a failure report"
    failure = report.failures[0]
    assert (failure.status, failure.permanent) == (status, hard), failure


def test_recipients_are_named_where_the_report_names_them() -> None:
    assert read_report(QMAIL).failures[0].recipient == "alice@council.example"
    assert read_report(SENDMAIL).failures[0].recipient == "foo@rbd.spb.ru"
    assert read_report(EXCHANGE_ONLINE).failures[0].recipient == "alice@council.example"


def test_delays_and_auto_replies_are_not_failures() -> None:
    assert read_report(DELAYED).delayed_only
    assert read_report(OUT_OF_OFFICE) is None


def test_corpus_postfix_dsns() -> None:
    emails = require_corpus() / "discourse_receiver" / "emails"
    hard = read_report((emails / "hard_bounce_via_verp.eml").read_bytes())
    soft = read_report((emails / "soft_bounce_via_verp.eml").read_bytes())
    two = read_report((emails / "bounced_email_multiple_status_codes.eml").read_bytes())
    assert hard is not None and hard.failures[0].status == "5.1.1" and hard.failures[0].permanent
    assert soft is not None and soft.failures[0].status == "4.1.1" and not soft.failures[0].permanent
    assert two is not None and [f.recipient for f in two.failures] == ["linux-admin@b-s-c.co.jp", "foo@b-s-c.co.jp"]


@pytest.fixture
def alice(sessionmaker: sessionmaker[Session]) -> int:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        make_member(session, housing, "fiona@council.example", role=Role.facilitator)
        return make_member(session, housing, "alice@council.example", delivery=Delivery.daily).id


def bounce_in(site: Site, sessionmaker: sessionmaker[Session], raw: bytes) -> str:
    with sessionmaker() as session:
        assert [r.code for r in judging.judge(session, site, raw, "", [VERP])] == [250]
    with sessionmaker.begin() as session:
        inbound_id = spooling.spool(session, raw, "", [VERP], "smtp")
    with sessionmaker.begin() as session:
        [outcome] = processing.process(session, site, inbound_id)
    return outcome


def test_hard_bounces_stop_mail_tell_facilitators_and_one_click_restores_it(
    site: Site, sessionmaker: sessionmaker[Session], alice: int
) -> None:
    assert "hard bounce" in bounce_in(site, sessionmaker, EXCHANGE_ONLINE)
    assert "already counted today" in bounce_in(site, sessionmaker, GMAIL_NOT_FOUND)
    with sessionmaker.begin() as session:
        membership = session.get(Membership, alice)
        assert membership is not None and membership.bounce_score == 2
        tomorrow = utcnow() + timedelta(days=1)
        outcome = bounces.record_bounce(session, site, membership, permanent=True, reason="5.1.1", now=tomorrow)
        assert "mail stopped" in outcome
        assert membership.delivery is Delivery.none and membership.bounce_disabled_at == tomorrow
        user = membership.user
        assert [m.id for m in bounces.stopped_deliveries(session, user)] == [alice], "shown at sign-in"
        [notice] = session.scalars(select(OutboxItem).where(OutboxItem.dedupe_key.like("bounce-stop:%")))
        assert notice.address == "fiona@council.example"
        link = notice.payload["text"].split(bounces.REENABLE_PATH)[1].split()[0]

    with sessionmaker.begin() as session:
        membership = bounces.membership_for_link(session, site, link)
        bounces.reenable(session, membership)
    with sessionmaker() as session:
        membership = session.get(Membership, alice)
        assert membership is not None
        assert (membership.delivery, membership.bounce_score, membership.bounce_disabled_at) == (
            Delivery.daily,
            0,
            None,
        )
        assert session.scalar(select(func.count()).select_from(Post)) == 0, "bounces are never posted"


def test_a_welsh_communitys_facilitator_is_told_in_welsh(
    site: Site, sessionmaker: sessionmaker[Session], alice: int
) -> None:
    with sessionmaker.begin() as session:
        membership = session.get(Membership, alice)
        assert membership is not None
        membership.community.language = "cy"
        membership.bounce_score = 2  # as after two hard bounces on two days: the third stops mail
        bounces.record_bounce(session, site, membership, permanent=True, reason="5.1.1 no such user", now=utcnow())
        [notice] = session.scalars(select(OutboxItem).where(OutboxItem.dedupe_key.like("bounce-stop:%")))
    assert notice.payload["subject"] == (
        "[Housing] wedi rhoi'r gorau i anfon at alice@council.example: mae'n dal i fownsio"
    )
    text = notice.payload["text"]
    assert "Meddai'r neges fownsio olaf: 5.1.1 no such user\n" in text and bounces.REENABLE_PATH in text
    assert "bouncing" not in text and "one click" not in text


def test_soft_bounces_count_less_and_an_old_score_is_forgotten(
    site: Site, sessionmaker: sessionmaker[Session], alice: int
) -> None:
    start = utcnow() - timedelta(days=100)
    with sessionmaker.begin() as session:
        membership = session.get(Membership, alice)
        assert membership is not None
        for day in range(3):
            bounces.record_bounce(
                session, site, membership, permanent=False, reason="4.2.2 over quota", now=start + timedelta(days=day)
            )
        assert membership.bounce_score == 3 and membership.bounce_disabled_at is None
        bounces.record_bounce(session, site, membership, permanent=False, reason="4.2.2", now=utcnow())
        assert membership.bounce_score == 1, "31+ days without a bounce: the count starts again"


def test_delay_warnings_and_bounces_for_strangers_count_nothing(
    site: Site, sessionmaker: sessionmaker[Session], alice: int
) -> None:
    assert "delay warning" in bounce_in(site, sessionmaker, DELAYED)
    stranger = EXCHANGE_ONLINE.replace(b"bounces+alice=council.example", b"bounces+nobody=elsewhere.example")
    with sessionmaker.begin() as session:
        inbound_id = spooling.spool(
            session, stranger, "", [VERP.replace("alice=council.example", "nobody=elsewhere.example")], "smtp"
        )
    with sessionmaker.begin() as session:
        assert "not a member" in processing.process(session, site, inbound_id)[0]
    with sessionmaker() as session:
        assert session.scalar(select(Membership.bounce_score).where(Membership.id == alice)) == 0
        assert session.scalar(select(func.count()).select_from(UserEmail)) == 2
