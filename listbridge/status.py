"""``listbridge status``: the queues, and whether this config's running site answers.

The queues come from the database (:func:`forum.health.queues`, as ``/healthz``), so they
are right wherever the command runs. The ports are asked as a client would: the SMTP port
for its greeting, the web port for ``/healthz``, whose services it lists. A port that does
not answer is reported, not unhealthy: a site split by ``serve --only`` runs its parts on
other machines, and a site that is down shows in its queues' age.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from forum import health
from forum.config import Settings

TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Line:
    name: str
    text: str
    ok: bool = True

    def __str__(self) -> str:
        return f"{self.name}: {self.text}" + ("" if self.ok else " (unhealthy)")


def check(session: Session, settings: Settings, stale: timedelta) -> list[Line]:
    lines = [
        Line(
            queue.name, queue.describe() + ("" if queue.ok else f", older than {stale.total_seconds():.0f} s"), queue.ok
        )
        for queue in health.queues(session, stale=stale)
    ]
    smtp = settings.smtp_in
    host = _reachable(smtp.host)
    lines.append(Line(f"{smtp.protocol} {host}:{smtp.port}", _greeting(host, smtp.port)))
    web_host = _reachable(settings.web.host)
    url = f"http://{_bracketed(web_host)}:{settings.web.port}/healthz"
    answer = _healthz(url)
    if isinstance(answer, str):
        lines.append(Line(f"web {url}", answer))
    else:
        lines.append(Line(f"web {url}", "answers"))
        for name, service in answer.get("services", {}).items():
            detail = f" ({service['detail']})" if service.get("detail") else ""
            lines.append(Line(f"service {name}", f"{service['state']}{detail}", service["state"] == health.RUNNING))
    return lines


def _reachable(host: str) -> str:
    """Where to knock for a server listening on ``host`` (every address: this machine)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _greeting(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_SECONDS) as conn:
            greeting = conn.makefile("rb").readline(512).decode("ascii", "replace").strip()
            conn.sendall(b"QUIT\r\n")
    except OSError as exc:
        return f"not answering ({exc.strerror or exc})"
    return "answers" if greeting.startswith("220") else f"answers unexpectedly: {greeting[:80]!r}"


def _healthz(url: str) -> dict[str, dict[str, dict[str, str]]] | str:
    """The JSON of ``/healthz``, or why there is none."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # 503: unhealthy, with the same body
        body = exc.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"not answering ({getattr(reason, 'strerror', None) or reason})"
    try:
        return json.loads(body)
    except ValueError:
        return "answers, but not with listbridge's /healthz"
