"""Invitations: how a private community is joined (and any other may be).

A facilitator invites an address, or a spreadsheet of them; each invitee is mailed a
personal link, ``/invite/TOKEN``, that joins in one click (the page changes nothing on
GET, since mail scanners follow links; its button POSTs). Following it proves the address
is the invitee's, so the account is made if there is none, with that address proven.

The token is random, not signed: only its SHA-256 is stored, so the table signs nobody
in, and an invitation is withdrawn or used up by changing its row. A link that is not
(or no longer) good says so in the same words whatever the reason, and names nothing.
Inviting an address again while its invitation is pending sends nothing new.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import outbox
from forum.access import membership_of, user_by_email
from forum.accounts import proven_account
from forum.directory import normalize_email
from forum.errors import InvalidInput, NotFound
from forum.mail_language import language_for, translations
from forum.mail_links import in_language
from forum.models import (
    Community,
    Invitation,
    InvitationStatus,
    Membership,
    MemberStatus,
    User,
    utcnow,
)
from forum.site import Site

PATH = "/invite/"
DEFAULT_DAYS = 14
MAX_DAYS = 90
NOT_VALID = "this invitation link is not valid: it may have expired, been withdrawn or been used already"


@dataclass(frozen=True)
class Invitee:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Invited:
    """What :func:`invite` did, address by address."""

    sent: list[str] = field(default_factory=list)
    already_invited: list[str] = field(default_factory=list)  # a pending invitation was there: nothing sent
    already_members: list[str] = field(default_factory=list)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_csv(text: str) -> list[Invitee]:
    """Invitees from a CSV with an ``email`` column (``name`` optional); InvalidInput naming
    every bad row, so that nothing is sent until the file is right."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "email" not in columns:
        raise InvalidInput('the CSV needs a header row with an "email" column (and optionally "name")')
    invitees, problems = [], []
    for row in reader:
        number = reader.line_num  # blank lines are skipped, so counting rows would misname them
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        if not any(values.values()):
            continue
        try:
            invitees.append(Invitee(normalize_email(values.get("email", "")), values.get("name", "")[:200]))
        except InvalidInput as exc:
            problems.append(f"row {number}: {exc.message.rstrip('.')}")
    if problems:
        raise InvalidInput("; ".join(problems))
    if not invitees:
        raise InvalidInput("the CSV has no addresses in it")
    return invitees


def invite(
    session: Session,
    site: Site,
    community: Community,
    invitees: list[Invitee],
    *,
    inviter: User | None = None,
    days: int = DEFAULT_DAYS,
    message: str = "",
) -> Invited:
    """Invite each address to ``community`` and mail it its link; members and addresses
    with a pending invitation are left alone (so running the same list twice is safe)."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"an invitation lasts from 1 to {MAX_DAYS} days, not {days}")
    done = Invited()
    seen: set[str] = set()
    for invitee in invitees:
        email = normalize_email(invitee.email)
        if email in seen:
            continue
        seen.add(email)
        membership = membership_of(session, user_by_email(session, email), community)
        if membership is not None and membership.status is MemberStatus.active:
            done.already_members.append(email)
        elif _pending_for(session, community, email) is not None:
            done.already_invited.append(email)
        else:
            _send(session, site, community, email, invitee.name, inviter, days, message.strip())
            done.sent.append(email)
    return done


def _pending_for(session: Session, community: Community, email: str) -> Invitation | None:
    return session.scalar(
        select(Invitation).where(
            Invitation.community_id == community.id,
            Invitation.email == email,
            Invitation.status == InvitationStatus.pending,
            Invitation.expires_at > utcnow(),
        )
    )


def _send(
    session: Session,
    site: Site,
    community: Community,
    email: str,
    name: str,
    inviter: User | None,
    days: int,
    message: str,
) -> None:
    token = secrets.token_urlsafe(24)
    invitation = Invitation(
        community_id=community.id,
        email=email,
        name=name,
        message=message,
        token_hash=_hash(token),
        invited_by_id=inviter.id if inviter else None,
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(invitation)
    session.flush()
    user = user_by_email(session, email)
    language = language_for(session, user.id if user else None, community.language)
    _ = translations(language).gettext
    values = {
        "who": (inviter.display_name if inviter else "") or _("Its facilitators"),
        "name": community.name,
        "site": site.settings.site.name,
        "url": in_language(site.url(f"{PATH}{token}"), language),
        "days": days,
    }
    text = _("%(who)s invited you to join %(name)s on %(site)s.") % values + "\n\n"
    text += _("To join, open this link and press Join: %(url)s") % values + "\n\n"
    if message:
        text += _("Their message:") + "\n" + "\n".join(f"  {line}" for line in message.splitlines()) + "\n\n"
    if community.description:
        text += f"{community.name}: {community.description}\n\n"
    text += (
        _("The link is for you alone and works for %(days)s days. If you do not want to join, ignore this message.")
        % values
        + "\n"
    )
    outbox.enqueue_notice(
        session,
        dedupe_key=f"invitation:{invitation.id}",
        address=email,
        user_id=user.id if user else None,
        payload={"slug": community.slug, "subject": _("Invitation to join %(name)s") % values, "text": text},
    )


def invitation_for(session: Session, token: str) -> Invitation:
    """The pending, unexpired invitation a link is for; NotFound (one sentence for every
    reason, naming nothing) otherwise."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == _hash(token.strip())))
    if invitation is None or invitation.status is not InvitationStatus.pending or invitation.expires_at <= utcnow():
        raise NotFound(NOT_VALID)
    return invitation


def accept(session: Session, token: str) -> tuple[User, Community]:
    """Use an invitation: its address's account (made if need be) becomes an active member."""
    invitation = invitation_for(session, token)
    community = session.get_one(Community, invitation.community_id)
    user = proven_account(session, invitation.email, invitation.name)
    membership = membership_of(session, user, community)
    if membership is not None and membership.status is MemberStatus.banned:
        raise NotFound(NOT_VALID)
    if membership is None:
        session.add(Membership(community_id=community.id, user_id=user.id, status=MemberStatus.active))
    else:
        membership.status = MemberStatus.active
    invitation.status, invitation.accepted_at = InvitationStatus.accepted, utcnow()
    session.flush()
    return user, community


def pending(session: Session, community: Community) -> list[Invitation]:
    """The invitations not yet used, withdrawn or expired, newest first."""
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.community_id == community.id,
                Invitation.status == InvitationStatus.pending,
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.id.desc())
        )
    )


def withdraw(session: Session, community: Community, invitation_id: int) -> Invitation:
    """Withdraw a pending invitation: its link stops working."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.community_id != community.id:
        raise NotFound("there is no such invitation")
    if invitation.status is not InvitationStatus.pending:
        raise InvalidInput(f"the invitation to {invitation.email} was already {invitation.status.value}")
    invitation.status = InvitationStatus.withdrawn
    session.flush()
    return invitation
