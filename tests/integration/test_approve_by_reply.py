"""Asking to join a restricted community by mail, and a facilitator answering by reply:
through SMTP against a real ``listbridge serve``, as a requester and a facilitator (and a
forger) would.

The request arrives at ``SLUG-subscribe@`` and is confirmed by reply; the facilitator's
notice carries a ``SLUG-decide+TOKEN@`` Reply-To, and only a reply from the facilitator's
own address, which the trusted upstream vouches for, decides it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import Received, SmtpSink

pytestmark = pytest.mark.integration

UPSTREAM = "mx.council.example"
FIONA, BOB = "fiona@council.example", "bob@example.org"


def vouched(result: str) -> str:
    return (
        f"Authentication-Results: {UPSTREAM}; dkim={result} header.d=council.example; "
        f"dmarc={result}{' (p=reject)' if result == 'fail' else ''} header.from=council.example\r\n"
    )


def text_of(received: Received) -> str:
    return received.message.get_body(("plain",)).get_content()


def newest_to(sink: SmtpSink, address: str, count: int) -> Received:
    """The newest message to ``address`` once the sink holds ``count`` messages."""
    messages = sink.wait_for(count, timeout=20)
    return [m for m in messages if address in m.rcpt_tos][-1]


def test_a_request_by_mail_is_approved_by_the_facilitators_reply_and_a_forgery_decides_nothing(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port, smtp_in=f'trusted_authserv_ids = ["{UPSTREAM}"]')
    copy_head_schema(db_url)
    site.cli("community", "create", "lounge", "--name", "Wardens Lounge", "--visibility", "restricted")
    site.cli("member", "add", "lounge", FIONA, "--name", "Fiona Facilitator", "--role", "facilitator")
    site.start()
    try:
        subscribe = f"lounge-subscribe@{DOMAIN}"
        assert site.send(BOB, [subscribe], mail(f"Bob <{BOB}>", subscribe, "join", "", "s1@example.org"))[0] == 250
        confirm = newest_to(smtp_sink, BOB, 1)
        assert "facilitators of Wardens Lounge decide" in text_of(confirm)
        confirm_to = confirm.message["Reply-To"]
        assert (
            site.send(BOB, [confirm_to], mail(f"Bob <{BOB}>", confirm_to, "Re: confirm", "yes", "s2@example.org"))[0]
            == 250
        )
        notice = newest_to(smtp_sink, FIONA, 3)
        assert "Bob asks to join" in notice.message["Subject"]
        decide = notice.message["Reply-To"]
        assert decide.startswith("lounge-decide+") and decide.endswith(f"@{DOMAIN}")
        told = newest_to(smtp_sink, BOB, 3)
        assert "with its facilitators" in text_of(told)

        def reply(
            sender: str, message_id: str, headers: str, body: str = "approve\r\n\r\nWelcome, Bob."
        ) -> tuple[int, str]:
            quoted = "\r\n".join(f"> {line}" for line in text_of(notice).splitlines())
            raw = mail(f"Fiona <{sender}>", decide, "Re: request", f"{body}\r\n\r\n{quoted}\r\n", message_id, headers)
            return site.send(sender, [decide], raw)

        code, text = reply(FIONA, "forged@evil.example", vouched("fail"))
        assert code == 550 and "nothing was decided" in text
        code, text = reply("mallory@council.example", "other@council.example", vouched("pass"))
        assert code == 550 and "only from the facilitator" in text
        assert reply(FIONA, "unvouched@council.example", "")[0] == 250
        unsure = newest_to(smtp_sink, FIONA, 4)
        assert "could not check that your reply" in text_of(unsure)
        assert BOB not in site.cli("member", "list", "lounge").stdout

        assert reply(FIONA, "genuine@council.example", vouched("pass"))[0] == 250
        welcome = newest_to(smtp_sink, BOB, 5)
        assert "was approved" in text_of(welcome) and "Welcome, Bob." in text_of(welcome)
        assert "> " not in text_of(welcome)  # the quoted notice stays out of the message passed on
        listed = site.cli("member", "list", "lounge").stdout
        assert f"{BOB}\tmember\teach\tactive" in listed
        site.wait_until_processed()
        time.sleep(1.0)
        assert len(smtp_sink.messages) == 5, [(m.rcpt_tos, m.message["Subject"]) for m in smtp_sink.messages]
    finally:
        site.stop()
