"""How much mail the gateway sends on behalf of, or in answer to, one sender: the one place
these limits live, so a site-wide limiter can take their place.

A sender's mail to the relay or to ``noreply@`` makes us send mail to someone; without a
limit a forged From would make us a source of spam (or a way to flood a member).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from forum.accounts import RateLimit, RateLimited, count_against
from forum.site import Site

log = logging.getLogger(__name__)

ANSWERS = RateLimit("mail-answer", 5, timedelta(hours=1))  # help sent back to one address
RELAYED = RateLimit("private-relay", 30, timedelta(hours=1))  # private messages one member sends


def allowed(session: Session, site: Site, limit: RateLimit, key: str) -> bool:
    """Count one more under ``limit`` for ``key``; False (and nothing counted) past it."""
    try:
        count_against(session, site, [(limit, key.lower())])
    except RateLimited:
        log.info("%s: limit of %d an hour reached for one sender", limit.bucket, limit.count)
        return False
    return True
