"""The web archive of a real ``listbridge serve``: gunicorn's workers, forked by its arbiter,
which ``serve`` forks. A worker that dies is replaced while the others serve; SIGTERM to
``serve`` alone ends the arbiter and every worker."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.served import DOMAIN, Browser, ServedSite, mail
from tests.support import SmtpSink

pytestmark = pytest.mark.integration


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def get(site: ServedSite, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{site.web_port}{path}", timeout=10) as response:
        return response.status, response.read()


def healthz(site: ServedSite, within: float = 10.0) -> dict[str, object]:
    """``/healthz`` once all is well (services may still be starting), else as it last was."""
    deadline = time.monotonic() + within
    while True:
        try:
            return dict(json.loads(get(site, "/healthz")[1]))
        except urllib.error.HTTPError as refused:  # 503: something is not well yet
            if time.monotonic() > deadline:
                return dict(json.loads(refused.read()))
        time.sleep(0.1)


def workers_of(site: ServedSite, count: int) -> tuple[int, set[int]]:
    """The arbiter (the child of ``serve`` with children of its own) and its ``count`` workers."""
    assert site.proc is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for child in children(site.proc.pid):
            workers = children(child)
            if len(workers) == count:
                return child, workers
        time.sleep(0.1)
    raise AssertionError(f"no arbiter with {count} workers under listbridge serve:\n{site.log()}")


def test_a_dead_worker_is_replaced_and_a_stop_ends_them_all(tmp_path: Path, db_url: str, smtp_sink: SmtpSink) -> None:
    site = ServedSite(tmp_path, db_url, smtp_sink.port, extra="processes = 2")
    site.cli("init")
    site.start()
    try:
        arbiter, workers = workers_of(site, 2)
        assert all(get(site, "/")[0] == 200 for _ in range(4))
        dead = min(workers)
        os.kill(dead, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (dead in children(arbiter) or len(children(arbiter)) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        replaced = children(arbiter)
        assert len(replaced) == 2 and dead not in replaced, site.log()
        assert all(get(site, "/")[0] == 200 for _ in range(8))
        health = healthz(site)  # a new worker reports serve's services too
        assert health["ok"] and health["services"]["web"]["state"] == "running", health
    finally:
        exit_status = site.stop()  # SIGTERM to serve alone, not to its process group
    assert exit_status == 0, site.log()
    gone = {arbiter, *workers, *replaced}
    assert not any(Path(f"/proc/{pid}").exists() for pid in gone), "a web process outlived serve"
    assert "Traceback" not in site.log()


SIGN_IN_LINK = re.compile(r"http://\S+/signin/\S+")
MINUTES = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
BUDGET = bytes(reversed(range(256))) * 30 + b"\r\n\x00\xff"


def signed_in(site: ServedSite, sink: SmtpSink, address: str) -> Browser:
    """A browser signed in by the emailed link, as a person signs in."""
    browser = Browser()
    already = len(sink.messages)
    status, _ = browser.press_button(f"http://127.0.0.1:{site.web_port}/signin", email=address)
    assert status == 200
    mail = sink.wait_for(already + 1)[already]
    link = SIGN_IN_LINK.search(mail.message.get_body(("plain",)).get_content())
    assert link, mail.message
    status, _ = browser.press_button(link.group(0))
    assert status == 200
    return browser


def copies_to(sink: SmtpSink, start: int, count: int) -> dict[str, EmailMessage]:
    return {m.rcpt_tos[0]: m.message for m in sink.wait_for(start + count, 30)[start:]}


def test_web_posts_reach_email_members_with_their_files_and_quotes(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    """A post from the web with two files reaches email members with both, byte for byte
    (kept across a preview); a web reply to an earlier post, not the latest, threads under
    it in their mail clients and quotes it."""
    site = ServedSite(tmp_path, db_url, smtp_sink.port, extra="processes = 1")
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    for who in ("alice", "bob", "carol"):
        site.cli("member", "add", "housing", f"{who}@council.example", "--name", f"{who.title()} Example")
    site.start()
    try:
        alice = signed_in(site, smtp_sink, "alice@council.example")
        new = f"http://127.0.0.1:{site.web_port}/c/housing/new"
        text = [("subject", "Forum minutes"), ("body", "Minutes and **budget** attached.")]
        status, preview = alice.send_form(
            new, [*text, ("action", "preview")], [("minutes.pdf", MINUTES), ("budget 2026–27.xls", BUDGET)]
        )
        assert status == 200 and "<strong>budget</strong>" in preview
        kept = [html.unescape(t) for t in re.findall(r'name="attached" value="([^"]+)"', preview)]
        assert len(kept) == 2
        start = len(smtp_sink.messages)  # the sign-in mail
        status, _ = alice.send_form(new, [*text, ("action", "post"), *(("attached", t) for t in kept)])
        assert status == 200
        first = copies_to(smtp_sink, start, 2)
        assert sorted(first) == ["bob@council.example", "carol@council.example"]
        for copy in first.values():
            attached = {part.get_filename(): part.get_content() for part in copy.iter_attachments()}
            assert attached == {"minutes.pdf": MINUTES, "budget 2026–27.xls": BUDGET}
            assert "Minutes and budget attached." in copy.get_body(("plain",)).get_content()
        root_id = first["bob@council.example"]["Message-ID"]
        archived = first["bob@council.example"]["Archived-At"].strip("<>")
        thread_url, root_anchor = archived.split("#post-")

        reply = mail(
            "Bob Example <bob@council.example>",
            "housing@lists.example.org",
            "Re: Forum minutes",
            "Thanks, I will read them tonight.",
            "bob1@council.example",
            f"In-Reply-To: {root_id}\r\nReferences: {root_id}\r\n",
        )
        assert site.send("bob@council.example", ["housing@lists.example.org"], reply)[0] == 250
        copies_to(smtp_sink, start + 2, 2)  # Bob's reply, to Alice and Carol: now the latest post

        status, _ = alice.send_form(
            f"{thread_url}/reply?parent={root_anchor}",
            [("body", "One more thing: the budget is a draft."), ("parent_id", root_anchor)],
            to=f"{thread_url}/reply",
        )
        assert status == 200
        answers = copies_to(smtp_sink, start + 4, 2)
        assert sorted(answers) == ["bob@council.example", "carol@council.example"]
        for copy in answers.values():
            assert copy["In-Reply-To"] == root_id, "threaded under the post answered, not the latest"
            assert (
                copy.get_body(("plain",))
                .get_content()
                .replace("\r\n", "\n")
                .startswith(
                    "Alice Example wrote:\n> Minutes and budget attached.\n\nOne more thing: the budget is a draft.\n"
                )
            )
        status, page = alice.get(thread_url)
        assert (
            status == 200 and f'<a class="in-reply-to" href="#post-{root_anchor}">In reply to Alice Example</a>' in page
        )
    finally:
        site.stop()
    assert "Traceback" not in site.log()


def test_a_visitor_joins_from_the_page_and_the_next_post_reaches_them(
    tmp_path: Path, db_url: str, smtp_sink: SmtpSink
) -> None:
    """The front door end to end: the page's form, the mailed link over real SMTP, its button,
    then a member's post by mail that reaches the newcomer."""
    site = ServedSite(tmp_path, db_url, smtp_sink.port)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice", "--description", "Advice on disrepair.")
    site.cli("member", "add", "housing", "alice@council.example", "--name", "Alice", "--role", "facilitator")
    site.start()
    base = f"http://127.0.0.1:{site.web_port}"
    try:
        browser = Browser()
        status, page = browser.get(f"{base}/c/housing/")
        assert status == 200 and "Advice on disrepair." in page
        assert f'href="mailto:housing@{DOMAIN}"' in page and 'action="/c/housing/join"' in page
        status, page = browser.press_button(f"{base}/c/housing/join", email="newbie@council.example", delivery="each")
        assert status == 200 and "Check your email" in page
        [asked] = smtp_sink.wait_for(1, timeout=30)
        assert (
            asked.rcpt_tos == ["newbie@council.example"] and asked.message["Subject"] == "Confirm: join Housing Advice"
        )
        body = asked.message.get_body(("plain",)).get_content()
        link = re.search(r"http://\S+/confirm/\S+", body)
        assert link, body
        for _ in range(2):  # a mail scanner's GET joins nobody
            status, page = browser.get(link.group(0))
            assert status == 200 and "Join Housing Advice?" in page
        assert "newbie@council.example" not in site.cli("member", "list", "housing").stdout
        status, page = browser.press_button(link.group(0), name="Nia Newbie")
        assert status == 200 and "Welcome to Housing Advice: you are a member." in page and "Nia Newbie" in page
        assert "newbie@council.example" in site.cli("member", "list", "housing").stdout
        status, page = browser.get(f"{base}/c/housing/")  # still signed in
        assert "You are a member. Email: every message, as it is posted." in page

        code, _text = site.send(
            "alice@council.example",
            [f"housing@{DOMAIN}"],
            mail("Alice <alice@council.example>", f"housing@{DOMAIN}", "Welcome, all", "Hello.", "w1@council.example"),
        )
        assert code == 250
        site.wait_until_processed()
        deadline = time.monotonic() + 30
        while not any(m.rcpt_tos == ["newbie@council.example"] for m in smtp_sink.messages[1:]):
            assert time.monotonic() < deadline, [(m.rcpt_tos, m.message["Subject"]) for m in smtp_sink.messages]
            time.sleep(0.2)
    finally:
        site.stop()
    assert "Traceback" not in site.log()
