"""A site served by real ``listbridge serve`` processes, as the end-to-end benchmarks use it.

A fresh database each run (SQLite in the run's directory by default, or a PostgreSQL
database given by URL that is dropped and created anew), set up with the command line an
operator uses, and served either whole (``serve``) or split into roles
(``serve --only gateway`` and ``--only worker`` processes sharing one PostgreSQL).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import make_url

DOMAIN = "lists.bench.example"


def fresh_database(url: str | None, workdir: Path) -> str:
    """The URL of an empty database: SQLite in ``workdir`` without ``url``; a PostgreSQL
    database is dropped (connections and all) and created again, so runs never mix."""
    if not url:
        return f"sqlite:///{workdir / 'lb.db'}"
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        raise SystemExit(f"--database-url: a PostgreSQL URL naming a database is expected, not {url}")
    import psycopg

    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    return url


def write_config(
    workdir: Path, smtp_port: int, web_port: int, sink_port: int, extra: str = "", database_url: str | None = None
) -> Path:
    """A site in ``workdir`` with loopback ports (SQLite there unless ``database_url``);
    ``extra`` adds TOML sections."""
    config = workdir / "listbridge.toml"
    config.write_text(f"""
[site]
base_url = "http://127.0.0.1:{web_port}"
mail_domain = "{DOMAIN}"
secret_key = "bench-secret-key-0123456789abcdef"
[database]
url = "{database_url or f"sqlite:///{workdir / "lb.db"}"}"
[storage]
path = "{workdir / "storage"}"
[smtp_in]
port = {smtp_port}
[smtp_out]
port = {sink_port}
[web]
port = {web_port}
[logging]
level = "WARNING"
{extra}""")
    return config


def cli(config: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "listbridge", "--config", str(config), *args], check=True, capture_output=True
    )


def import_members(config: Path, workdir: Path, slug: str, emails: Sequence[str]) -> None:
    members = workdir / "members.csv"
    members.write_text("email\n" + "".join(f"{e}\n" for e in emails))
    cli(config, "member", "import", slug, str(members))


def wait_listening(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit("listbridge serve exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after 30 s")


@dataclass
class Serving:
    """``listbridge serve`` processes: one per role set, e.g. ``[()]`` for one whole site,
    ``[("gateway",), ("worker",), ("worker",)]`` for a gateway and two workers."""

    config: Path
    role_sets: Sequence[Sequence[str]]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __enter__(self) -> Serving:
        for roles in self.role_sets:
            only = [arg for role in roles for arg in ("--only", role)]
            self.procs.append(
                subprocess.Popen([sys.executable, "-m", "listbridge", "--config", str(self.config), "serve", *only])
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(60)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]
