"""``GET /healthz``: for a load balancer or a monitor, the services this process runs and
the queues every process shares.

Counts and ages only, never content. 200 when all is well, 503 otherwise, so a probe
needs no JSON parsing; the body says what is not well.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from forum import health
from web.state import state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    web = state()
    with web.readers() as session:
        queues = health.queues(session)
    body = health.report(dict(web.services()), queues)
    return jsonify(body), 200 if body["ok"] else 503
