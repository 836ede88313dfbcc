"""One message cannot stall the site: hostile mail against a real ``listbridge serve``.

Each hostile message is built in memory at the size that hurt before (address headers
of tens of thousands of addresses, HTML nested or left open hundreds of kilobytes deep,
one recipient given thirty times, hundreds of idle connections), sent over SMTP as an
attacker would, and judged by what a member would notice: a clear refusal, and the
other senders' mail answered and posted in good time.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from forum.db import make_engine
from forum.models import Post
from tests.head_schema import copy_head_schema
from tests.integration.served import DOMAIN, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration

LIST = f"housing@{DOMAIN}"
ALICE = "alice@council.example"


def _smtp_in(site: ServedSite, settings: str) -> None:
    """Add ``settings`` to the site's [smtp_in] section."""
    site.config.write_text(site.config.read_text().replace("\n[smtp_out]", f"{settings}\n\n[smtp_out]", 1))


def _site(tmp_path: Path, db_url: str, sink: SmtpSink, smtp_in: str = "") -> ServedSite:
    site = ServedSite(tmp_path, db_url, sink.port)
    _smtp_in(site, smtp_in)
    copy_head_schema(db_url)
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--policy", "members")
    for who in ("alice", "bob"):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", f"{who.title()} Example")
    return site


@pytest.fixture
def served(tmp_path: Path, db_url: str, smtp_sink: SmtpSink):
    site = _site(
        tmp_path,
        db_url,
        smtp_sink,
        "max_recipients = 40\nmax_connections = 30\nmax_connections_per_client = 10\nidle_timeout_seconds = 4",
    )
    site.start()
    yield site
    site.stop()


def _posts(site: ServedSite) -> list[tuple[str, str | None]]:
    engine = make_engine(site.db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(Post.subject, Post.html).order_by(Post.id)))
    finally:
        engine.dispose()


def _html_mail(subject: str, html: str, message_id: str) -> bytes:
    return (
        f"From: Alice Example <{ALICE}>\r\nTo: {LIST}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()


def _addresses(count: int) -> str:
    return ",\r\n ".join(f"Person {i} <person{i}@example.net>" for i in range(count))


def test_address_lists_past_the_cap_are_refused_at_data_and_others_go_on(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    for header, count in (("From", 20_000), ("To", 45_000)):
        bomb = mail(ALICE, LIST, "bomb", "hi", f"{header}@council.example").replace(
            f"{header}: ".encode(), f"{header}: {_addresses(count)},\r\n ".encode(), 1
        )
        started = time.monotonic()
        code, text = served.send(ALICE, [LIST], bomb)
        assert (code, text[:5]) == (552, "5.3.4") and "header is larger" in text, text
        assert time.monotonic() - started < 3
        # Within the header size limit, the number of addresses is bounded.
        bomb = mail(ALICE, LIST, "bomb", "hi", f"{header}@council.example").replace(
            f"{header}: ".encode(), f"{header}: {_addresses(1200)},\r\n ".encode(), 1
        )
        code, text = served.send(ALICE, [LIST], bomb)
        assert (code, text[:5]) == (550, "5.6.0") and f"{header} header lists more than 1000" in text, text

    huge_header = mail(
        ALICE, LIST, "long header", "hi", "lh@council.example", extra_headers="X-Padding: " + "a" * 300_000 + "\r\n"
    )
    code, text = served.send(ALICE, [LIST], huge_header)
    assert (code, text[:5]) == (552, "5.3.4") and "header is larger" in text, text

    # A real message to a few hundred people is read as before.
    many = mail(ALICE, f"{LIST}, {_addresses(300)}", "to many", "A question for all.", "many@council.example")
    assert served.send(ALICE, [LIST], many)[0] == 250
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["bob@council.example"]]


def test_html_too_deep_is_posted_as_its_text_without_holding_the_next(served: ServedSite, smtp_sink: SmtpSink) -> None:
    nested = "<div>" * 66_000 + "Deep words" + "</div>" * 10
    unclosed = "<b><i><u><span><em>" * 19_000 + "Open words"
    assert served.send(ALICE, [LIST], _html_mail("nested", nested, "n@council.example"))[0] == 250
    assert served.send(ALICE, [LIST], _html_mail("unclosed", unclosed, "u@council.example"))[0] == 250
    started = time.monotonic()
    code, _ = served.send(ALICE, [LIST], mail(ALICE, LIST, "ordinary", "An ordinary question.", "o@council.example"))
    assert code == 250
    copies = smtp_sink.wait_for(3, timeout=20)
    assert time.monotonic() - started < 8, "the ordinary message waited behind the hostile ones"
    subjects = " ".join(str(c.message["Subject"]) for c in copies)
    assert all(word in subjects for word in ("nested", "unclosed", "ordinary")), subjects
    posts = {subject: html or "" for subject, html in _posts(served)}
    assert "Deep words" in posts["nested"] and "<div>" not in posts["nested"]
    assert "Open words" in posts["unclosed"] and "<b>" not in posts["unclosed"]


def test_a_text_too_long_to_trim_is_posted_whole_without_holding_the_next(
    served: ServedSite, smtp_sink: SmtpSink
) -> None:
    """Past the trimming bound a text is kept whole, quote and all, and other mail goes on."""
    long_text = "Words of a very long post, pasted from a log.\n" * 60_000  # 2.8 MB
    quote = "On Mon, Bob Example <bob@council.example> wrote:\n> Any news?\n"
    assert served.send(ALICE, [LIST], mail(ALICE, LIST, "long", long_text + quote, "long@council.example"))[0] == 250
    started = time.monotonic()
    code, _ = served.send(ALICE, [LIST], mail(ALICE, LIST, "ordinary", "An ordinary question.", "o@council.example"))
    assert code == 250
    copies = smtp_sink.wait_for(2, timeout=20)
    assert time.monotonic() - started < 8, "the ordinary message waited behind the long one"
    assert sorted(str(c.message["Subject"]) for c in copies)[0].endswith("long")
    engine = make_engine(served.db_url)
    try:
        with engine.connect() as conn:
            body = conn.execute(select(Post.body).where(Post.subject == "long")).scalar_one()
    finally:
        engine.dispose()
    assert body.startswith("Words of a very long post") and body.endswith("> Any news?")
    assert body.count("pasted from a log") == 60_000
    assert "bob@council.example" not in body  # quoted addresses are still hidden


def test_one_message_makes_one_post_whatever_its_envelope(served: ServedSite, smtp_sink: SmtpSink) -> None:
    rcpts = [LIST] * 30 + [LIST.upper(), f"Housing@{DOMAIN}"]
    message = mail(ALICE, LIST, "said thirty times", "Once is enough.", "unused").replace(
        b"Message-ID: <unused>\r\n", b""
    )
    with served.smtp() as client:
        client.ehlo()
        client.mail(ALICE)
        answers = [client.rcpt(r)[0] for r in rcpts + [LIST] * 20]
        assert answers[:40] == [250] * 40
        code, text = client.rcpt(LIST)
        assert (code, text[:5]) == (452, b"4.5.3"), text
        assert client.data(message)[0] == 250
    served.wait_until_processed()
    copies = smtp_sink.wait_for(1)
    time.sleep(1)
    assert len(smtp_sink.messages) == len(copies) == 1
    assert [subject for subject, _ in _posts(served)] == ["said thirty times"]


def test_connections_past_the_caps_hear_421_and_idle_ones_are_closed(served: ServedSite) -> None:
    def connect(source: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", served.smtp_port), timeout=10, source_address=(source, 0))
        sock.settimeout(10)
        return sock

    def greeting(sock: socket.socket) -> bytes:
        return sock.recv(1024)

    time.sleep(0.5)  # the start-up probe's connection is closed
    first = [connect("127.0.0.1") for _ in range(10)]
    try:
        greetings = [greeting(s) for s in first]
        assert all(g.startswith(b"220") for g in greetings), greetings
        turned_away = connect("127.0.0.1")
        assert greeting(turned_away).startswith(b"421 4.7.0")
        assert turned_away.recv(1024) == b""  # closed
        others = [connect(f"127.0.0.{n}") for n in (2, 3) for _ in range(10)]
        assert all(greeting(s).startswith(b"220") for s in others)
        over_all = connect("127.0.0.4")
        assert greeting(over_all).startswith(b"421 4.7.0")
        for sock in others:
            sock.close()
        time.sleep(0.5)
        # The caps count open connections: closed ones make room again.
        again = connect("127.0.0.4")
        assert greeting(again).startswith(b"220")
        # An idle connection is told, then closed.
        again.settimeout(10)
        assert again.recv(1024).startswith(b"421 4.4.2")
    finally:
        for sock in first:
            sock.close()


def test_a_message_that_takes_too_long_is_set_aside_and_can_be_retried(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    site = _site(tmp_path, db_url, smtp_sink, "shunt_after_seconds = 0.001")
    site.start()
    try:
        assert site.send(ALICE, [LIST], mail(ALICE, LIST, "slow", "Taking a while.", "slow@council.example"))[0] == 250
        site.wait_until_processed()
        listed = site.cli("shunt", "list").stdout.splitlines()
        assert len(listed) == 1 and ALICE in listed[0] and "longer than 0.001 s" in listed[0], listed
        assert _posts(site) == []
        # The processor killed for it was replaced: the next message is taken too.
        assert site.send(ALICE, [LIST], mail(ALICE, LIST, "next", "Next one.", "next@council.example"))[0] == 250
        site.wait_until_processed()
        assert len(site.cli("shunt", "list").stdout.splitlines()) == 2
    finally:
        site.stop()
    # With the limit raised, the operator tries it again, and it is posted.
    site.config.write_text(site.config.read_text().replace("shunt_after_seconds = 0.001", ""))
    site.start()
    try:
        shunted_id = listed[0].split("\t")[0]
        result = site.cli("shunt", "retry", shunted_id)
        assert f"message {shunted_id} is queued" in result.stdout
        copies = smtp_sink.wait_for(1, timeout=20)
        assert copies[0].message["Subject"].endswith("slow")
        assert len(site.cli("shunt", "list").stdout.splitlines()) == 1
        failed = site.cli("shunt", "retry", shunted_id, check=False)
        assert failed.returncode == 1 and "no message" in failed.stderr
    finally:
        site.stop()
