"""The people who run the site: named by the operators with ``listbridge site admin add``.

A site administrator decides the requests for new communities and may edit, archive or
delete any community on the web. They are people with accounts (``users.is_site_admin``),
not a setting: naming one takes effect at once in every process, and they sign in as
anyone does. Naming an address nobody has yet creates its account (the operator vouches
for it), so the new administrator can sign in straight away.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum.access import user_by_email
from forum.directory import normalize_email
from forum.errors import InvalidInput
from forum.models import User, UserEmail


@dataclass(frozen=True)
class SiteAdmin:
    user_id: int
    email: str  # their primary address
    name: str
    language: str | None


def add(session: Session, address: str) -> tuple[User, bool]:
    """Make the person with ``address`` a site administrator (creating their account if
    new); returns them and whether they were one already."""
    email = normalize_email(address)
    user = user_by_email(session, email)
    if user is None:
        user = User(display_name="", emails=[UserEmail(email=email, is_primary=True, verified=True)])
        session.add(user)
    already = user.is_site_admin
    user.is_site_admin = True
    session.flush()
    return user, already


def remove(session: Session, address: str) -> int:
    """Stop ``address``'s person being a site administrator; how many remain."""
    email = normalize_email(address)
    user = user_by_email(session, email)
    if user is None or not user.is_site_admin:
        raise InvalidInput(f"{email} is not a site administrator")
    user.is_site_admin = False
    session.flush()
    return len(admins(session))


def admins(session: Session) -> list[SiteAdmin]:
    """Every site administrator, by address."""
    rows = session.execute(
        select(User.id, UserEmail.email, User.display_name, User.language)
        .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
        .where(User.is_site_admin.is_(True))
        .order_by(UserEmail.email)
    )
    return [SiteAdmin(*row) for row in rows]
