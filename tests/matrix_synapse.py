"""A real Synapse homeserver for the Matrix bridge tests, on a free loopback port.

Synapse comes from PyPI (``matrix-synapse``) into a virtualenv of its own, because its
dependency tree (Twisted and friends) has nothing to do with listbridge's. Building that
virtualenv takes a minute or two, so it is built once and kept in the user's cache
directory; a stamp file written last marks it complete, so an interrupted build is redone
rather than trusted. CI builds it ahead of the tests with::

    python -m tests.matrix_synapse build

Building needs nothing but the standard library, so CI can run it before the project's own
virtualenv exists. A test calls :func:`synapse_venv` (``None`` when it is not built and may not be built
now) and :class:`Synapse` to run a homeserver for its duration, optionally with application
service registrations loaded (``app_service_config_files``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC = "matrix-synapse>=1.100,<2"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "listbridge-tests"
VENV = CACHE / "synapse-venv"
STAMP = VENV / ".listbridge-complete"
PASSWORD = "correct horse battery staple"


def _python() -> Path:
    return VENV / "bin" / "python"


def is_built() -> bool:
    return STAMP.exists() and STAMP.read_text() == SPEC and _python().exists()


def build() -> Path:
    """Build (or reuse) the Synapse virtualenv; a lock keeps two runs from building at once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "synapse-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_built():
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run(
                [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SPEC], check=True
            )
            STAMP.write_text(SPEC)
    return VENV


def synapse_venv(*, may_build: bool) -> Path | None:
    """The built virtualenv, building it first when ``may_build``; None when absent."""
    if is_built():
        return VENV
    return build() if may_build else None


@dataclass(frozen=True)
class Account:
    user_id: str
    access_token: str


class Synapse:
    """A homeserver named ``localhost`` in ``directory``, stopped by pid on exit."""

    def __init__(self, venv: Path, directory: Path, app_services: tuple[Path, ...] = ()) -> None:
        from tests.support import (
            free_port,  # here, so that building needs only the standard library
        )

        self.venv = venv
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "homeserver.yaml"
        self.app_services = app_services
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Synapse:
        python = str(self.venv / "bin" / "python")
        self.directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                python,
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                "localhost",
                "--config-path",
                str(self.config),
                "--generate-config",
                "--report-stats=no",
                "--data-directory",
                str(self.directory),
            ],
            check=True,
            capture_output=True,
            cwd=self.directory,
        )
        overrides = self.directory / "overrides.yaml"
        generous = {"per_second": 1000, "burst_count": 1000}
        overrides.write_text(
            json.dumps(
                {  # JSON is YAML: later config files override earlier keys
                    "listeners": [
                        {
                            "port": self.port,
                            "bind_addresses": ["127.0.0.1"],
                            "type": "http",
                            "tls": False,
                            "x_forwarded": False,
                            "resources": [{"names": ["client"], "compress": False}],
                        }
                    ],
                    "trusted_key_servers": [],
                    "suppress_key_server_warning": True,
                    "rc_message": generous,
                    "rc_registration": generous,
                    "rc_joins": {"local": generous},
                    "rc_login": {"address": generous, "account": generous, "failed_attempts": generous},
                    "rc_invites": {"per_room": generous, "per_user": generous},
                    "app_service_config_files": [str(path) for path in self.app_services],
                }
            )
        )
        log = (self.directory / "synapse.out").open("wb")
        self._process = subprocess.Popen(
            [python, "-m", "synapse.app.homeserver", "-c", str(self.config), "-c", str(overrides)],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2).close()
                return self
            except (urllib.error.URLError, ConnectionError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    tail = (self.directory / "synapse.out").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Synapse did not start:\n{tail}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def register(self, name: str) -> Account:
        """A new user (via the shared-secret admin registration), logged in."""
        subprocess.run(
            [
                str(self.venv / "bin" / "register_new_matrix_user"),
                "-c",
                str(self.config),
                "-u",
                name,
                "-p",
                PASSWORD,
                "--no-admin",
                self.url,
            ],
            check=True,
            capture_output=True,
        )
        reply = self.call(
            "POST",
            "/_matrix/client/v3/login",
            None,
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": name},
                "password": PASSWORD,
            },
        )
        return Account(reply["user_id"], reply["access_token"])

    def call(self, method: str, path: str, token: str | None, body: dict[str, Any] | None = None) -> Any:
        """One Client-Server API request as a test's other Matrix user makes it."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        print("usage: python -m tests.matrix_synapse build", file=sys.stderr)
        sys.exit(2)
    started = time.monotonic()
    print(f"Synapse virtualenv ready at {build()} ({time.monotonic() - started:.0f} s)")
