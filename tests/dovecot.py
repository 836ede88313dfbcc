"""A real Dovecot IMAP server on a free loopback port, started and stopped by the tests.

Debian's ``dovecot-imapd``; nothing of the system's own configuration is used. Each server
gets a directory of its own (world-readable, as Dovecot's unprivileged login processes
need), one user ``alice`` with password ``secret`` whose Maildir belongs to ``nobody``
(Dovecot refuses root as a mail user), plain-text login without TLS (loopback only), and
IDLE, which Dovecot always offers. :meth:`Dovecot.restart` stops the process and starts a
new one on the same port and mailbox, as a server restart does to a connected client.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import free_port, unavailable

USER, PASSWORD = "alice", "secret"
NOBODY = 65534


class Dovecot:
    def __init__(self) -> None:
        binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
        if binary is None:
            unavailable("Dovecot is not installed (Debian package: dovecot-imapd)")
        if os.geteuid() != 0:
            unavailable("running Dovecot for the tests needs root (it switches to its own users)")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lb-dovecot-"))
        self.dir.chmod(0o755)
        self.home = self.dir / USER
        self.home.mkdir()
        os.chown(self.home, NOBODY, NOBODY)
        users = self.dir / "users"
        users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{NOBODY}:{NOBODY}::{self.home}\n")
        self.config = self.dir / "dovecot.conf"
        self.config.write_text(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
service imap-login {{
  chroot = login
  inet_listener imap {{
    port = {self.port}
  }}
}}
service anvil {{
  chroot =
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Dovecot:
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dovecot exited at start: {self.proc.stderr.read().decode()}{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"dovecot did not answer on port {self.port} within 15 s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server (and its login and imap processes) by its pid."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""
