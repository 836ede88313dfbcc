"""A listbridge site run as a real ``listbridge serve`` process, as an operator runs it.

The tests drive it only through its command line and its SMTP port, and read what it
sends from a real SMTP sink acting as smarthost, so they exercise exactly what a user
would: process start-up, signals, sockets, the database on disk.
"""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from forum.db import make_engine
from forum.models import InboundMessage, InboundStatus
from listbridge.cli import main as cli_main
from tests.dnsstub import empty_dns
from tests.support import free_ports

DOMAIN = "lists.example.org"


class ServedSite:
    def __init__(
        self,
        workdir: Path,
        db_url: str,
        smarthost_port: int,
        *,
        protocol: str = "smtp",
        max_message_bytes: int = 26_214_400,
        extra: str = "",
        smtp_in: str = "",
        dns_server: str | None = None,
        site_extra: str = "",
    ) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.smtp_port, self.web_port = free_ports(2)
        self.smarthost_port = smarthost_port
        self.config = workdir / "listbridge.toml"
        self.log_path = workdir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.config.write_text(f"""
[site]
name = "Test Site"
base_url = "http://127.0.0.1:{self.web_port}"
mail_domain = "{DOMAIN}"
secret_key = "integration-test-secret-0123456789"
{site_extra}

[database]
url = "{db_url}"

[storage]
path = "{workdir / "storage"}"

[smtp_in]
host = "127.0.0.1"
port = {self.smtp_port}
protocol = "{protocol}"
max_message_bytes = {max_message_bytes}
dns_servers = ["{dns_server or empty_dns()}"]
{smtp_in}

[smtp_out]
host = "127.0.0.1"
port = {smarthost_port}

[delivery]
retry_base_seconds = 0.2
retry_max_seconds = 1.0

[web]
host = "127.0.0.1"
port = {self.web_port}
{extra}
""")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command of the command line against this site, as an operator would.

        The command runs in this process (the same ``main`` the ``listbridge`` script
        calls, with its exit status and both streams): starting Python and importing the
        project for each of a test's setup commands cost about a second each. ``serve``,
        which a test runs only to see it refuse, still gets a process of its own.
        """
        argv = ["--config", str(self.config), *args]
        if args[:1] == ("serve",):
            result = subprocess.run(
                [sys.executable, "-m", "listbridge", *argv], capture_output=True, text=True, timeout=120
            )
        else:
            ran = CliRunner().invoke(cli_main, argv, prog_name="listbridge")
            if ran.exception is not None and not isinstance(ran.exception, SystemExit):
                raise ran.exception
            result = subprocess.CompletedProcess(argv, ran.exit_code, ran.stdout, ran.stderr)
        if check and result.returncode != 0:
            raise AssertionError(f"listbridge {' '.join(args)} failed: {result.stderr}")
        return result

    def start(self) -> None:
        log = self.log_path.open("ab")
        # A process group of its own, as a service manager gives it: a test may signal it whole.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "listbridge", "--config", str(self.config), "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"listbridge serve exited at start:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.smtp_port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"listbridge serve did not listen within 30 s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the process with ``sig`` and return its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def wait_until_processed(self, timeout: float = 20.0) -> None:
        """Until the spool processor (a process of its own, behind the 250) has processed
        every message accepted so far."""
        engine = make_engine(self.db_url)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    pending = conn.scalar(
                        select(func.count())
                        .select_from(InboundMessage)
                        .where(InboundMessage.status == InboundStatus.pending)
                    )
                if not pending:
                    return
                time.sleep(0.05)
        finally:
            engine.dispose()
        raise AssertionError(f"{pending} accepted message(s) still unprocessed after {timeout} s:\n{self.log()}")

    def child_process(self, command_part: str, timeout: float = 15.0) -> int:
        """The pid of the serve process's child whose command line contains ``command_part``."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                    command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except (OSError, ValueError, IndexError):
                    continue  # ended meanwhile
                if ppid == self.proc.pid and command_part in command:
                    return int(stat.parent.name)
            time.sleep(0.1)
        raise AssertionError(f"no child of listbridge serve runs {command_part!r}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30)

    def send(self, mail_from: str, rcpts: list[str], data: bytes) -> tuple[int, str]:
        """Send one message; return the (code, text) of the reply that decided it.

        The first refused recipient decides; otherwise the reply to DATA does.
        """
        with self.smtp() as client:
            client.ehlo()
            code, text = client.mail(mail_from)
            if code != 250:
                return code, text.decode()
            for rcpt in rcpts:
                code, text = client.rcpt(rcpt)
                if code != 250:
                    return code, text.decode()
            answer: bytes | str
            try:
                code, answer = client.data(data)
            except smtplib.SMTPDataError as exc:
                code, answer = exc.smtp_code, exc.smtp_error
            return code, answer.decode(errors="replace") if isinstance(answer, bytes) else answer


class Browser:
    """A person's browser: cookies kept, forms sent with the CSRF token the page carried."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, url: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(url))

    def press_button(self, url: str, **fields: str) -> tuple[int, str]:
        """Open ``url``, fill in ``fields`` and press the button of its form."""
        status, page = self.get(url)
        assert status == 200, page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page
        data = urllib.parse.urlencode({"csrf_token": token.group(1), **fields}).encode()
        return self._open(urllib.request.Request(url, data=data, method="POST"))

    def send_form(
        self, url: str, fields: list[tuple[str, str]], files: Sequence[tuple[str, bytes]] = (), *, to: str = ""
    ) -> tuple[int, str]:
        """Open ``url`` and send its form (to ``to`` when its action is elsewhere) as a browser
        sends a form with file inputs: multipart/form-data, each file under "files"."""
        status, page = self.get(url)
        assert status == 200, page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page
        boundary = f"----form{secrets.token_hex(8)}"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in [("csrf_token", token.group(1)), *fields]
        ]
        for filename, content in files:
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            parts.append(head.encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._open(urllib.request.Request(to or url, data=body, headers=headers, method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def mail(sender: str, to: str, subject: str, body: str, message_id: str, extra_headers: str = "") -> bytes:
    """A plain message as a mail client writes it (CRLF, UTF-8)."""
    return (
        (
            f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            f"Date: Sat, 28 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n{extra_headers}\r\n"
            f"{body}"
        )
        .replace("\r\n", "\n")
        .replace("\n", "\r\n")
        .encode()
    )
