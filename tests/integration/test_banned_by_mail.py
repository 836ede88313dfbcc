"""A banned member, against a real ``listbridge serve``: their mail is refused at the SMTP
door with an answer that says no more than it must, and they are sent no copies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

HOUSING, BOARD = f"housing@{DOMAIN}", f"board@{DOMAIN}"


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> Iterator[ServedSite]:
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    site.cli("community", "create", "board", "--name", "Board", "--private")
    for who in ("alice", "bob", "carol"):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", who.title())
    site.cli("member", "add", "board", "carol@council.example")
    site.cli("member", "ban", "housing", "carol@council.example", "--reason", "Abuse")
    site.cli("member", "ban", "board", "carol@council.example")
    yield site
    site.stop()


def test_a_banned_member_is_refused_by_mail_and_sent_nothing(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.start()
    code, text = served.send(
        "carol@council.example",
        [HOUSING],
        mail("Carol <carol@council.example>", HOUSING, "Back again", "Hello", "c1@council.example"),
    )
    assert (code, text) == (550, "5.7.1 carol@council.example may not post to housing")

    # In a private community a ban leaves nothing to know: the same answer as for no community.
    code, text = served.send(
        "carol@council.example",
        [BOARD],
        mail("Carol <carol@council.example>", BOARD, "Back again", "Hello", "c2@council.example"),
    )
    assert (code, text) == (550, '5.1.1 there is no community "board" here')

    code, _ = served.send(
        "alice@council.example",
        [HOUSING],
        mail("Alice <alice@council.example>", HOUSING, "Boilers", "Who fixed theirs?", "a1@council.example"),
    )
    assert code == 250
    [copy] = smtp_sink.wait_for(1)
    assert copy.rcpt_tos == ["bob@council.example"]
    time.sleep(1.5)  # the delivery worker has had time to send any other copy
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["bob@council.example"]]

    # Nor can they join again by mail: they are told so, and stay banned.
    subscribe = f"housing-subscribe@{DOMAIN}"
    code, _ = served.send(
        "carol@council.example", [subscribe], mail("carol@council.example", subscribe, "join", "", "c3@council.example")
    )
    assert code == 250
    answer = smtp_sink.wait_for(2)[1]
    assert answer.rcpt_tos == ["carol@council.example"]
    assert "cannot join or leave Housing Advice by email" in answer.message.get_body(("plain",)).get_content()
    assert "carol@council.example\tmember\teach\tbanned" in served.cli("member", "list", "housing").stdout
