"""Chat bridge latency through a real ``listbridge serve`` (SQLite, loopback).

    python bench/chat_latency.py --posts 1000 --rate 20

Two clocks, each over ``--posts`` posts sent at ``--rate`` per second:

* **email → chat**: from the gateway's 250 for a mailed post to the moment the Slack Web
  API (the local fake from the tests, reached through ``api_base_url``) receives the
  ``chat.postMessage`` for it;
* **chat → email**: from the moment a signed Events API request for a new Slack message is
  sent to ``/slack/events`` to the moment the smarthost (a local SMTP sink) accepts the
  member's copy.

Prints median, p95 and max of each; the aim is p95 under one second.
"""

from __future__ import annotations

import argparse
import re
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import served
from served import DOMAIN, cli

from tests.fake_slack import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    FakeSlack,
    event_callback,
    signed,
)
from tests.support import Received, SmtpSink, free_port

TAG = re.compile(r"bench-(\d+)")


def write_config(workdir: Path, smtp_port: int, web_port: int, sink_port: int, slack_url: str) -> Path:
    return served.write_config(
        workdir,
        smtp_port,
        web_port,
        sink_port,
        f"""
[slack]
bot_token = "{BOT_TOKEN}"
signing_secret = "{SIGNING_SECRET}"
api_base_url = "{slack_url}"
""",
    )


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    return f"{label}: n={len(ms)} median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"


def email_to_chat(smtp_port: int, slack: FakeSlack, posts: int, rate: float) -> list[float]:
    sent: dict[int, float] = {}
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        for n in range(posts):
            msg = EmailMessage()
            msg["From"], msg["To"] = "alice@bench.example", f"housing@{DOMAIN}"
            msg["Subject"], msg["Message-ID"] = f"bench-{n}", f"<bench-{n}@bench.example>"
            msg.set_content("A post for the latency benchmark.")
            client.send_message(msg)
            sent[n] = time.monotonic()
            time.sleep(1 / rate)
    calls = slack.wait_for("chat.postMessage", posts, timeout=60)
    arrived = {int(m.group(1)): c.at for c in calls if (m := TAG.search(c.params.get("text", "")))}
    return [arrived[n] - sent[n] for n in sent]


def chat_to_email(web_port: int, sink: SmtpSink, arrivals: dict[int, float], posts: int, rate: float) -> list[float]:
    sent: dict[int, float] = {}
    for n in range(posts):
        body, headers = signed(
            event_callback(
                {"type": "message", "channel": CHANNEL, "user": "U1", "text": f"chat-{n}", "ts": f"1800000000.{n:06d}"}
            )
        )
        sent[n] = time.monotonic()
        request = urllib.request.Request(f"http://127.0.0.1:{web_port}/slack/events", data=body, headers=headers)
        urllib.request.urlopen(request, timeout=10).close()
        time.sleep(1 / rate)
    deadline = time.monotonic() + 60
    while len(arrivals) < posts and time.monotonic() < deadline:
        time.sleep(0.05)
    return [arrivals[n] - sent[n] for n in sent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="posts sent per second")
    args = parser.parse_args()
    arrivals: dict[int, float] = {}
    lock = threading.Lock()

    def on_copy(received: Received) -> None:
        match = re.search(r"chat-(\d+)", str(received.message["Subject"]))
        if match:
            with lock:
                arrivals[int(match.group(1))] = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack, SmtpSink(on_message=on_copy) as sink:
        slack.add_user("U1", "Alice", "alice@bench.example")
        smtp_port, web_port = free_port(), free_port()
        config = write_config(Path(tmp), smtp_port, web_port, sink.port, slack.api_url)
        cli(config, "init")
        cli(config, "community", "create", "housing", "--name", "Housing")
        for who in ("alice", "bob"):
            cli(config, "member", "add", "housing", f"{who}@bench.example")
        cli(config, "bridge", "link", "housing", "slack", CHANNEL)
        server = subprocess.Popen([sys.executable, "-m", "listbridge", "--config", str(config), "serve"])
        try:
            wait_listening(smtp_port)
            wait_listening(web_port)
            print(summary("email -> chat API call", email_to_chat(smtp_port, slack, args.posts, args.rate)))
            print(
                summary(
                    "chat event -> copy at the smarthost",
                    chat_to_email(web_port, sink, arrivals, args.posts, args.rate),
                )
            )
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
