"""Rate limits counted in the database, and the one limiter on mail we send in answer.

Every process shares the counts because they are rows (``rate_limit_hits``), keyed by an
HMAC so the table holds no address or IP address in the clear.

**Answers.** Anything that mails someone because something arrived — a notice to the
sender of a mail, a sign-in or confirmation link asked for on the web, a message passed on
to facilitators, a held post announced to moderators — can be turned against the person
named: a forger writes their address and the site mails them. So every such mail asks
:func:`may_answer` first, which counts it three times:

* per recipient address, **normalised** (case folded, ``+tag`` dropped), so that
  ``victim+1@`` and ``Victim+2@`` share one allowance; kept apart per ``purpose``, so that a
  flood of forged mail cannot use up the allowance a person needs to sign in;
* per community (``community_id``), so that one community cannot mail the world;
* for the whole site.

Past any of these the answer is simply not sent (``may_answer`` is False) and nothing is
counted. The allowances are ``[answers]`` settings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forum.errors import RateLimited
from forum.models import RateLimitHit, utcnow
from forum.site import Site
from forum.translatable import N_, Message

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` events per ``window`` under one key (an address, a client, a user)."""

    bucket: str
    count: int
    window: timedelta


def normalize_address(address: str) -> str:
    """The mailbox an address reaches, as far as we can tell: lowercased, without ``+tag``.

    ``Victim+1@Example.org`` and ``victim@example.org`` reach the same person; counting them
    apart would let anyone multiply a limit by writing tags."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _hashed(site: Site, limit: RateLimit, value: str) -> str:
    return hmac.new(
        site.settings.site.secret_key.encode(), f"{limit.bucket}\0{value}".encode(), hashlib.sha256
    ).hexdigest()


def count_against(session: Session, site: Site, checks: Sequence[tuple[RateLimit, str]]) -> None:
    """Count one event under every ``(limit, key)``, or raise :class:`RateLimited`, counting nothing.

    Counting nothing when refused means a flood cannot keep a key locked out beyond the
    window. Expired events are deleted as we go, so the table stays an hour long.
    """
    now = utcnow()
    hashed = [(limit, _hashed(site, limit, value)) for limit, value in checks]
    for limit, key in hashed:
        since = now - limit.window
        session.execute(
            delete(RateLimitHit).where(RateLimitHit.bucket == limit.bucket, RateLimitHit.created_at < since)
        )
        used = session.scalar(
            select(func.count())
            .select_from(RateLimitHit)
            .where(RateLimitHit.bucket == limit.bucket, RateLimitHit.key == key, RateLimitHit.created_at >= since)
        )
        if (used or 0) >= limit.count:
            raise RateLimited(Message(N_("too many requests of this kind in the last hour; please try again later")))
    session.add_all(RateLimitHit(bucket=limit.bucket, key=key, created_at=now) for limit, key in hashed)
    session.flush()


# Answers --------------------------------------------------------------------------------

# Purposes: each has its own allowance per address (the community and site ones are shared).
GATEWAY = "mail"  # answers to incoming mail: notices to its sender, command replies
SIGN_IN = "signin"  # sign-in links asked for on the web
VERIFY = "verify"  # links proving an address (an extra address, a post to confirm)
JOIN = "join"  # links confirming a join asked for on a community's page
FACILITATORS = "owners"  # mail passed on or announced to a community's facilitators


def answer_checks(
    site: Site, address: str, *, purpose: str = GATEWAY, community_id: int | None = None
) -> list[tuple[RateLimit, str]]:
    """The counts one answer to ``address`` makes, for :func:`count_against` together with
    a caller's own (the web's per-client limit on sign-in links)."""
    allowances = site.settings.answers
    checks = [
        (RateLimit(f"answer-{purpose}", allowances.per_address_per_hour, HOUR), normalize_address(address)),
        (RateLimit("answer-site", allowances.per_site_per_hour, HOUR), ""),
    ]
    if community_id is not None:
        checks.append((RateLimit("answer-community", allowances.per_community_per_hour, HOUR), str(community_id)))
    return checks


def may_answer(
    session: Session, site: Site, address: str, *, purpose: str = GATEWAY, community_id: int | None = None
) -> bool:
    """Count one mail to ``address`` in answer to something; False (counting nothing) if a
    limit is reached, and then the caller sends nothing."""
    try:
        count_against(session, site, answer_checks(site, address, purpose=purpose, community_id=community_id))
    except RateLimited:
        log.info("not answering %s (%s): too many answers in the last hour", normalize_address(address), purpose)
        return False
    return True
