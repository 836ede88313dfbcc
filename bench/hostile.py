"""Hostile input: how long the worst message of each kind holds the gateway, and what a
normal sender notices meanwhile.

    python bench/hostile.py [--only NAME ...] [--database-url postgresql+psycopg://USER:PASSWORD@HOST/DATABASE]

A fresh site (SQLite, or a PostgreSQL database dropped and created anew) with a
members-only community, served by ``listbridge serve --only gateway`` with the default
settings (a message may be 25 MiB). For each attack, a member sends one ordinary post
every 0.2 s throughout; the attacker (a member too, so its mail is accepted where it can
be) sends the worst message of its kind at the default size limit, built in memory:

- address lists: a From of 20,000 addresses and a To of 45,000 (each past the header
  limit), and the longest lists read (1,000 addresses in From, in To);
- HTML: 25 MiB of nested ``<div>``, 25 MiB of inline tags never closed, and the worst
  HTML still sanitised as HTML: as many elements nested as deep as the bounds allow, and
  as many elements side by side;
- plain text: 25 MiB of it, in lines of 72 characters;
- envelope: one message to the community's address 100 times (the recipient limit);
- connections: 400 connections opened at once from one client address and left idle.

For each: the SMTP reply, how long the attacker's conversation held the listener (the
end of DATA to its reply), how long processing its message held the spool processor (its
250 to its row processed, or set aside), and the ordinary sender's worst SMTP round trip
and worst time from its 250 to its post, during the attack.
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from served import DOMAIN, Serving, cli, fresh_database, import_members, wait_listening, write_config
from smtpsink import free_port
from sqlalchemy import Engine, func, select

from forum.db import make_engine
from forum.models import InboundMessage, InboundStatus, Post
from forum.text import MAX_HTML_DEPTH, html_within_bounds
from mailgateway.text.parsing import MAX_ADDRESSES

LIST = f"bench@{DOMAIN}"
ATTACKER, MEMBER = "attacker@members.example", "member@members.example"
SIZE_LIMIT = 26_214_400  # [smtp_in] max_message_bytes's default
HEADROOM = 4096  # for the header lines around a body built to the limit


def message(
    subject: str, body: str, *, extra_headers: str = "", content_type: str = "text/plain", sender: str = ATTACKER
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {LIST}\r\nSubject: {subject}\r\n{extra_headers}"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=utf-8\r\n\r\n{body}"
    ).encode()


def addresses(count: int) -> str:
    return ",\r\n ".join(f"Person {i} <person{i}@example.net>" for i in range(count))


def with_addresses(header: str, count: int) -> bytes:
    """The header's address (the attacker's own, or the community's) followed by ``count`` more."""
    first = {"From": ATTACKER, "To": LIST}[header]
    return message(f"{count} addresses in {header}", "Hello.").replace(
        f"{header}: {first}".encode(), f"{header}: {first},\r\n {addresses(count)}".encode(), 1
    )


def to_the_limit(unit: str, width: int = 998) -> str:
    """``unit`` repeated to the size limit, in lines of about ``width`` characters."""
    line = unit * (width // len(unit)) + "\r\n"
    return line * ((SIZE_LIMIT - HEADROOM) // len(line))


def worst_sanitised(depth: int) -> str:
    """HTML of elements nested ``depth`` deep, as much as is still sanitised as HTML."""
    unit = "<div>" * depth + "x" + "</div>" * depth
    count = 1
    while html_within_bounds(unit * (count * 2)):
        count *= 2
    step = count // 2
    while step:
        count += step if html_within_bounds(unit * (count + step)) else 0
        step //= 2
    return unit * count


@dataclass(frozen=True)
class Attack:
    name: str
    rcpts: int = 1  # how many times the community's address is given
    data: Callable[[], bytes] | None = None
    connections: int = 0  # idle connections opened instead of a message


ATTACKS = [
    Attack("from-20000", data=lambda: with_addresses("From", 20_000)),
    Attack("to-45000", data=lambda: with_addresses("To", 45_000)),
    Attack("from-1000", data=lambda: with_addresses("From", MAX_ADDRESSES - 1)),  # the sender's own is one more
    Attack("to-1000", data=lambda: with_addresses("To", MAX_ADDRESSES - 1)),
    Attack("html-nested-25MiB", data=lambda: message("nested", to_the_limit("<div>"), content_type="text/html")),
    Attack(
        "html-unclosed-25MiB",
        data=lambda: message("unclosed", to_the_limit("<b><i><u><span><em>"), content_type="text/html"),
    ),
    Attack(
        "html-deepest-sanitised",
        data=lambda: message("deep", worst_sanitised(MAX_HTML_DEPTH), content_type="text/html"),
    ),
    Attack("html-most-sanitised", data=lambda: message("many", worst_sanitised(1), content_type="text/html")),
    Attack("plain-25MiB", data=lambda: message("long", to_the_limit("Words of a very long post. ", 72))),
    Attack("rcpt-100x", rcpts=100, data=lambda: message("a hundred times", "Once is enough.")),
    Attack("connections-400", connections=400),
]


@dataclass
class Ordinary:
    """The ordinary member's posts during an attack: SMTP round trips, and when each had its 250."""

    round_trips: list[float] = field(default_factory=list)
    accepted: dict[str, float] = field(default_factory=dict)  # subject -> wall clock of its 250
    refused: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, port: int, tag: str) -> None:
        n = 0
        while not self.stop.is_set():
            subject = f"ordinary {tag} {n}"
            started = time.monotonic()
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
                    client.sendmail(MEMBER, [LIST], message(subject, "An ordinary question.", sender=MEMBER))
                self.round_trips.append(time.monotonic() - started)
                self.accepted[subject] = time.time()
            except (smtplib.SMTPException, OSError) as exc:
                self.refused.append(str(exc)[:80])
            n += 1
            self.stop.wait(0.2)


@dataclass(frozen=True)
class Outcome:
    reply: str
    listener: float  # the end of DATA (or the connections opened) to the reply
    processor: float | None  # the 250 to its row processed or set aside; None: nothing spooled
    status: str


def send_attack(port: int, attack: Attack) -> tuple[str, float]:
    """The attacker's conversation: (the reply that decided it, seconds DATA waited for it)."""
    assert attack.data is not None
    data = attack.data()
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.ehlo()
        client.mail(ATTACKER)
        for _ in range(attack.rcpts):
            code, text = client.rcpt(LIST)
            if code != 250:
                return f"{code} {text.decode()[:60]}", 0.0
        client.putcmd("data")
        code, text = client.getreply()
        if code != 354:
            return f"{code} {text.decode()[:60]}", 0.0
        client.send(data + b"\r\n.\r\n")
        started = time.monotonic()
        code, text = client.getreply()
        return f"{code} {text.decode()[:72]}", time.monotonic() - started


def open_connections(port: int, count: int) -> tuple[str, float]:
    """``count`` connections at once from one client address (not the ordinary sender's),
    each reading its greeting, then held for 3 s."""
    started = time.monotonic()
    sockets: list[socket.socket] = []
    greetings: dict[str, int] = {}
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.2", 0))
        sockets.append(sock)
    for sock in sockets:
        greeting = sock.recv(200).decode(errors="replace")[:9]
        greetings[greeting] = greetings.get(greeting, 0) + 1
    elapsed = time.monotonic() - started
    time.sleep(3)
    for sock in sockets:
        sock.close()
    return ", ".join(f"{n} × {g.strip()}" for g, n in sorted(greetings.items())), elapsed


def last_inbound(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.max(InboundMessage.id))) or 0


def wait_processed(engine: Engine, after: int, sender: str, timeout: float = 600) -> tuple[float | None, str]:
    """Seconds until the attacker's message spooled after row ``after`` is no longer pending."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(
                select(InboundMessage.id, InboundMessage.status).where(
                    InboundMessage.id > after, InboundMessage.mail_from == sender
                )
            ).first()
        if row is None:
            return None, "not spooled"
        if row.status is not InboundStatus.pending:
            return time.monotonic() - started, row.status.value
        time.sleep(0.02)
    return None, "still pending"


def posted_after(engine: Engine, ordinary: Ordinary) -> list[float]:
    """For each ordinary post accepted, seconds from its 250 to its post being stored."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    select(Post.subject, Post.created_at).where(Post.subject.in_(list(ordinary.accepted)))
                ).all()
            )
        if len(stored) == len(ordinary.accepted):
            return [_epoch(stored[s]) - t for s, t in ordinary.accepted.items()]
        time.sleep(0.1)
    raise SystemExit(f"ordinary posts not processed: {len(ordinary.accepted) - len(stored)} missing")


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def run(port: int, engine: Engine, attack: Attack) -> tuple[Outcome, Ordinary, list[float]]:
    ordinary = Ordinary()
    sender = threading.Thread(target=ordinary.run, args=(port, attack.name))
    sender.start()
    time.sleep(0.5)  # the ordinary sender's rhythm before the attack
    before = last_inbound(engine)
    if attack.connections:
        reply, listener = open_connections(port, attack.connections)
        processor, status = None, ""
    else:
        reply, listener = send_attack(port, attack)
        processor, status = wait_processed(engine, before, ATTACKER)
    time.sleep(1.0)  # and after it
    ordinary.stop.set()
    sender.join()
    return Outcome(reply, listener, processor, status), ordinary, posted_after(engine, ordinary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=[a.name for a in ATTACKS], help="run only these attacks")
    parser.add_argument("--database-url", help="a PostgreSQL database to create afresh (default: SQLite)")
    args = parser.parse_args()
    attacks = [a for a in ATTACKS if not args.only or a.name in args.only]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lb-hostile-") as tmp:
        workdir = Path(tmp)
        database_url = fresh_database(args.database_url, workdir)
        smtp_port = free_port()
        config = write_config(workdir, smtp_port, free_port(), free_port(), database_url=database_url)
        cli(config, "init")
        cli(config, "community", "create", "bench", "--name", "Bench")
        import_members(config, workdir, "bench", [ATTACKER, MEMBER])
        engine = make_engine(database_url)
        with Serving(config, [("gateway",)]) as serving:
            wait_listening(smtp_port, serving.procs[0])
            time.sleep(1)
            for attack in attacks:
                print(f"{attack.name} …", flush=True)
                outcome, ordinary, delays = run(smtp_port, engine, attack)
                rows.append((attack.name, outcome, ordinary, delays))
                print(
                    f"  {outcome.reply}; listener {outcome.listener:.2f} s; processor "
                    f"{'-' if outcome.processor is None else f'{outcome.processor:.2f} s'} {outcome.status}; "
                    f"ordinary: {len(ordinary.round_trips)} sent, {len(ordinary.refused)} refused, round trip "
                    f"median {statistics.median(ordinary.round_trips) * 1000:.0f} ms max "
                    f"{max(ordinary.round_trips) * 1000:.0f} ms, posted within {max(delays):.2f} s",
                    flush=True,
                )
        engine.dispose()
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{database}; | attack | reply | listener held | processor held | ordinary sender: SMTP round trip "
        "median / max | ordinary post stored within (max) |"
    )
    for name, outcome, ordinary, delays in rows:
        processor = "-" if outcome.processor is None else f"{outcome.processor:.2f} s ({outcome.status})"
        print(
            f"| {name} | {outcome.reply.split(';')[0][:48]} | {outcome.listener:.2f} s | {processor} | "
            f"{statistics.median(ordinary.round_trips) * 1000:.0f} / {max(ordinary.round_trips) * 1000:.0f} ms"
            f"{f' ({len(ordinary.refused)} refused)' if ordinary.refused else ''} | {max(delays):.2f} s |"
        )


if __name__ == "__main__":
    main()
