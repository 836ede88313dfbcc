"""Every real-world message of the corpus, through the gateway's own steps.

Each message is judged as the SMTP server judges it at DATA, spooled if accepted, and
processed into a post, exactly as ``listbridge serve`` does but without a socket. Every
one must end as a post or as a refusal with a reason a sender can read; none may raise,
and none may be accepted with a 250 and then silently vanish: what is refused only once
the whole message is read (no new text) is explained to its sender by mail.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from forum.directory import create_community
from forum.models import InboundMessage, InboundStatus, Post
from forum.site import Site
from mailgateway.incoming import judging, processing, spooling
from tests.corpus import manifest, require_corpus

RCPT = "corpus@lists.example.org"
SENDER = "relay@example.net"


def rfc822_items() -> list[dict]:
    return [item for item in manifest() if item["input_format"] == "rfc822"]


def test_every_corpus_message_becomes_a_post_or_a_clear_refusal(
    site: Site, sessionmaker: sessionmaker[Session], record_measurement
) -> None:
    corpus = require_corpus()
    items = rfc822_items()
    assert len(items) > 500, "the corpus manifest lists the real-world messages"
    with sessionmaker.begin() as session:
        create_community(session, "corpus", "Corpus", policy="open")

    outcomes: Counter[str] = Counter()
    vanished = []
    for item in items:
        raw = (corpus / item["file"]).read_bytes()
        with sessionmaker() as session:
            [reply] = judging.judge(session, site, raw, SENDER, [RCPT])
        if reply.code != 250:
            assert reply.code in (550, 552, 554) and len(reply.text) > 12, (item["file"], reply)
            outcomes[f"refused {reply.text.split(':')[0][:40]}"] += 1
            continue
        with sessionmaker.begin() as session:
            inbound_id = spooling.spool(session, raw, SENDER, [RCPT], "smtp")
        with sessionmaker.begin() as session:
            [line] = processing.process(session, site, inbound_id)
        kind = line.split(": ", 1)[1].split(" ", 1)[0]
        if line.endswith("; the sender was told"):  # refused once the whole message was read
            kind = f"{kind} (sender told)"
        outcomes[kind] += 1
        if kind not in ("posted", "duplicate", "Dropped:", "held", "InvalidInput: (sender told)"):
            vanished.append((item["file"], line))

    with sessionmaker() as session:
        pending = session.scalar(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status != InboundStatus.done)
        )
        posts = session.scalar(select(func.count()).select_from(Post))
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    record_measurement(f"gateway over {len(items)} corpus messages: {posts} posts; {summary}")
    assert pending == 0, "every spooled message was processed"
    assert not vanished, f"accepted with 250 but not posted: {vanished[:5]}"
    # Mailing-list copies (Precedence: list/bulk) are auto-dropped by design; of the rest,
    # nearly all must post (the refusals are mail without a From or without any new text).
    postable = len(items) - outcomes["Dropped:"]
    assert outcomes["posted"] + outcomes["duplicate"] > postable * 0.8
