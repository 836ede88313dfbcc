"""Work committed by any door of a real ``listbridge serve`` wakes mail delivery at once.

Delivery also looks for work by itself once a second; every copy here must arrive well
before that, so a door whose commits are not announced shows as a slow copy: mail, whose
posts are committed by the spool processor's process, and the web, whose pages are
served by forked processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, Browser, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"
AT_ONCE_SECONDS = 0.5  # half the polling period


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> Iterator[ServedSite]:
    site = ServedSite(tmp_path, db_url, smtp_sink.port, extra="processes = 2")  # pages served by forked servers
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "members")
    for who in ("alice", "bob", "carol"):
        site.cli("member", "add", "housing", f"{who}@council.example")
    yield site
    site.stop()


def latency(sink: SmtpSink, act: Callable[[], object]) -> float:
    """Seconds from ``act`` until the smarthost has the next message."""
    before = len(sink.messages)
    started = time.monotonic()
    act()
    sink.wait_for(before + 1)
    return time.monotonic() - started


def test_mail_and_web_commits_wake_delivery_at_once(served: ServedSite, smtp_sink: SmtpSink) -> None:
    served.start()
    sign_in = f"http://127.0.0.1:{served.web_port}/signin"

    def post(n: int) -> Callable[[], object]:
        return lambda: served.send(
            "alice@council.example",
            [LIST],
            mail(
                "alice@council.example",
                LIST,
                f"Question {n}",
                "Which damp meter do you use?",
                f"now{n}@council.example",
            ),
        )

    def ask_for_link(who: str) -> Callable[[], object]:
        return lambda: Browser().press_button(sign_in, email=f"{who}@council.example")

    latency(smtp_sink, post(0))  # the first message warms every process up
    smtp_sink.wait_for(2)
    by_mail = [latency(smtp_sink, post(n)) for n in (1, 2, 3)]
    smtp_sink.wait_for(8)
    by_web = [latency(smtp_sink, ask_for_link(who)) for who in ("alice", "bob", "carol")]
    print(
        f"first copy after a post by mail: {max(by_mail) * 1000:.0f} ms at most; "
        f"sign-in link after the web's form: {max(by_web) * 1000:.0f} ms at most"
    )
    assert max(by_mail) < AT_ONCE_SECONDS and max(by_web) < AT_ONCE_SECONDS, (by_mail, by_web)
