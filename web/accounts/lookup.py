"""Finding, inside a view's own database session, who is signed in and which community is meant.

``web.auth.current_user()`` is loaded in a short read-only session and detached; a view that
changes something needs the same person attached to its own session, and every page about
a community must answer "not found" for a private one the visitor may not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from forum.access import can_read, membership_of
from forum.errors import NotFound
from forum.models import Community, Membership, User
from forum.posting import community_by_slug
from web.auth import current_user


@dataclass(frozen=True)
class Place:
    """A community as the signed-in visitor (if any) stands in it."""

    community: Community
    user: User | None
    membership: Membership | None


def signed_in(db: Session) -> User | None:
    user = current_user()
    return db.get(User, user.id) if user is not None else None


def place(db: Session, slug: str, *, members_too: bool = False) -> Place:
    """The community ``slug`` if the visitor may read it, else NotFound (never "forbidden").

    ``members_too``: anyone with a membership row (a pending request, a ban) may also see
    it; they know it exists, so saying so reveals nothing.
    """
    community = community_by_slug(db, slug)
    user = signed_in(db)
    membership = membership_of(db, user, community)
    if not can_read(community, membership) and not (members_too and membership is not None):
        raise NotFound(f'there is no community "{slug}" here')
    return Place(community, user, membership)


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default``: never an open redirect.

    Browsers read ``//host`` and ``/\\host`` as other sites, and some strip control
    characters and whitespace before reading a URL, so anything of that kind is refused.
    An empty query (``/account?``, as ``request.full_path`` writes it) is dropped.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target.removesuffix("?")
