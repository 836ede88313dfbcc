"""People's accounts and their part in communities: sign-in links, addresses, joining, leaving.

Plain functions over a session (the caller owns the transaction), shared by the web now and
by email commands (``SLUG-subscribe@`` …) later, so every door applies the same rules.

* **Sign-in links** are HMAC tokens (:mod:`forum.tokens`) naming the user and their
  ``login_generation``, with an expiry. Using a link bumps the generation, so a link works
  once, and using one retires every other link still in flight. Checking a link does not
  use it: mail scanners fetch links before people click them.
* **Extra addresses** wait in ``pending_emails`` until a link mailed to them is followed;
  only then do they join ``user_emails``, which is all that posting by mail, sign-in and
  adding members ever look at.
* **Rate limits** count events in the database, so every worker process shares them.
* **Membership**: public communities are joined at once; restricted ones by a request
  (:mod:`forum.join_requests`), private ones by invitation (:mod:`forum.invitations`). Leaving removes the membership, except a ban, which stays; and no
  door (leaving, unsubscribing, removal) takes a community's last facilitator.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from forum import browser_sessions, db, mail_links, outbox, rate_limits, tokens
from forum.access import membership_of, readable_by, user_by_email
from forum.directory import normalize_email
from forum.errors import InvalidInput, NotFound, NotPermitted
from forum.mail_language import mail_language, translations
from forum.models import (
    Community,
    Delivery,
    Membership,
    MemberStatus,
    PendingEmail,
    Role,
    User,
    UserEmail,
    utcnow,
)
from forum.rate_limits import RateLimit, answer_checks, count_against
from forum.site import Site
from forum.translatable import N_, Message

LOGIN = "login"  # sign-in link: (user id, login generation, expiry)
VERIFY_EMAIL = "verify-email"  # proof of an extra address: (pending email id, expiry)
SIGN_IN_TTL = timedelta(minutes=15)
VERIFY_EMAIL_TTL = timedelta(days=2)
CATALOGUE_PATH = "/communities"  # the list of communities on the web, to find one to join
NO_ACCOUNT_LISTED = 20  # public communities named in the answer to an unknown address


# Per client the allowance is larger than per address (the [answers] settings): a council's
# staff may share one NAT address.
SIGN_IN_PER_CLIENT = RateLimit("signin-client", 30, timedelta(hours=1))
# Each added address mails a stranger: the same allowance keeps that from becoming spam.
ADD_EMAIL_PER_USER = RateLimit("add-email-user", 5, timedelta(hours=1))


# Sign-in links --------------------------------------------------------------------------


def request_sign_in(
    session: Session, site: Site, address: str, client: str, next_path: str = "", language: str | None = None
) -> None:
    """Mail a sign-in link to ``address`` if it is a known (proven) address of someone, and
    otherwise a message saying it has no account and how to get one: by joining a community.

    Either way a message goes to the address and the page says the same, so nobody learns
    from the screen or the limit which addresses have accounts; only the address's owner
    reads which message came. ``next_path`` travels in the link, for the page to open once
    signed in. ``language``: the asker's page's, for an address with no account.
    """
    address = normalize_email(address)
    count_against(
        session, site, [*answer_checks(site, address, purpose=rate_limits.SIGN_IN), (SIGN_IN_PER_CLIENT, client)]
    )
    user = user_by_email(session, address)
    if user is None:
        _tell_of_no_account(session, site, address, language)
        return
    language = mail_language(user.language, None)
    _ = translations(language).gettext
    values = {"name": site.settings.site.name, "email": address, "minutes": int(SIGN_IN_TTL.total_seconds() // 60)}
    sign_in = _("Sign in")
    asked = _("Someone, probably you, asked to sign in to %(name)s as %(email)s.") % values
    link = mail_links.in_language(sign_in_link(site, user, next_path), language)
    outbox.enqueue_notice(
        session,
        dedupe_key=f"signin:{user.id}:{secrets.token_hex(8)}",
        address=address,
        user_id=user.id,
        payload={
            "subject": _("Sign in to %(name)s") % values,
            "text": f"{asked}\n\n{sign_in}: {link}\n\n{sign_in_works(_)}\n",
        },
    )


_USED_SIGN_IN_LINK = Message(N_("this sign-in link has already been used (each link works once): ask for a new one"))


def sign_in_link(site: Site, user: User, next_path: str = "") -> str:
    """A link that signs ``user`` in once, within :data:`SIGN_IN_TTL`, then opens ``next_path``."""
    token = site.signer.make(LOGIN, user.id, user.login_generation, ttl_seconds=int(SIGN_IN_TTL.total_seconds()))
    return site.url(f"/signin/{token}") + (f"?{urlencode({'next': next_path})}" if next_path else "")


def sign_in_works(_: Callable[[str], str]) -> str:
    """How long a sign-in link works, said in a mail that carries one (``_``: its gettext)."""
    minutes = int(SIGN_IN_TTL.total_seconds() // 60)
    return _(
        "The link works once, within %(minutes)s minutes. If you did not ask for it, ignore "
        "this message: nobody can sign in without it."
    ) % {"minutes": minutes}


def _tell_of_no_account(session: Session, site: Site, address: str, language: str | None) -> None:
    """Answer a sign-in asked for an address no account has: the public communities to join."""
    language = mail_language(language, None)
    _ = translations(language).gettext
    values = {"name": site.settings.site.name, "email": address}
    public = session.scalars(
        select(Community).where(readable_by(None)).order_by(Community.name, Community.id).limit(NO_ACCOUNT_LISTED)
    ).all()
    lines = "".join(f"  {c.name}: {mail_links.in_language(site.url(f'/c/{c.slug}/'), language)}\n" for c in public)
    text = (
        _("Someone, probably you, asked to sign in to %(name)s as %(email)s, but no account has that address.") % values
        + "\n\n"
        + _(
            "You get an account by joining a community: on its page, enter your address, and "
            "confirm by the link we send you."
        )
        + "\n\n"
        + (_("Communities you can join:") + f"\n{lines}\n" if lines else "")
        + _("Every community: %(url)s") % {"url": mail_links.in_language(site.url(CATALOGUE_PATH), language)}
        + "\n\n"
        + _(
            "If you have an account under another address, ask for the link with that one. If you "
            "did not ask, ignore this message."
        )
        + "\n"
    )
    outbox.enqueue_notice(
        session,
        dedupe_key=f"signin-unknown:{secrets.token_hex(8)}",
        address=address,
        payload={"subject": _("Signing in to %(name)s") % values, "text": text},
    )


def sign_in_link_user(session: Session, site: Site, token: str) -> User:
    """Whom a sign-in link is for, without using it up; :class:`NotFound` saying why not."""
    try:
        user_id, generation, expires = site.signer.verify(LOGIN, token, count=3)
    except tokens.BadToken:
        raise NotFound(
            Message(N_("this sign-in link is not valid: check that the whole link was copied, or ask for a new one"))
        ) from None
    if expires < time.time():
        minutes = int(SIGN_IN_TTL.total_seconds() // 60)
        expired = N_("this sign-in link has expired (links work for %(minutes)s minutes): ask for a new one")
        raise NotFound(Message(expired, {"minutes": minutes}))
    user = session.get(User, user_id)
    if user is None or user.login_generation != generation:
        raise NotFound(_USED_SIGN_IN_LINK)
    return user


def use_sign_in_link(session: Session, site: Site, token: str) -> User:
    """Check a sign-in link and use it up, so it never works again.

    The generation is bumped with a compare-and-set, so of two requests racing with the
    same link exactly one succeeds.
    """
    user = sign_in_link_user(session, site, token)
    bumped = db.rowcount(
        session.execute(
            update(User)
            .where(User.id == user.id, User.login_generation == user.login_generation)
            .values(login_generation=User.login_generation + 1)
        )
    )
    if bumped != 1:
        raise NotFound(_USED_SIGN_IN_LINK)
    return user


# Profile and addresses ------------------------------------------------------------------


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this system knows (Europe/London), else InvalidInput."""
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        unknown = N_('"%(name)s" is not a time zone we know: use a name like Europe/London')
        raise InvalidInput(Message(unknown, {"name": name})) from None
    return name


def claim_email(session: Session, site: Site, user: User, address: str) -> PendingEmail:
    """Ask to add ``address`` to ``user``'s account: a confirmation link is mailed to it.

    Whether the address belongs to someone else is not said (that would let anyone probe
    which addresses have accounts); the confirmation itself tells its owner.
    """
    address = normalize_email(address)
    if any(e.email == address for e in user.emails):
        raise InvalidInput(Message(N_("%(email)s is already on your account"), {"email": address}))
    count_against(
        session, site, [(ADD_EMAIL_PER_USER, str(user.id)), *answer_checks(site, address, purpose=rate_limits.VERIFY)]
    )
    session.execute(
        delete(PendingEmail).where(
            PendingEmail.user_id == user.id, PendingEmail.created_at < utcnow() - VERIFY_EMAIL_TTL
        )
    )
    pending = session.scalar(select(PendingEmail).where(PendingEmail.user_id == user.id, PendingEmail.email == address))
    if pending is None:
        pending = PendingEmail(user_id=user.id, email=address)
        session.add(pending)
    pending.created_at = utcnow()
    session.flush()
    token = site.signer.make(VERIFY_EMAIL, pending.id, ttl_seconds=int(VERIFY_EMAIL_TTL.total_seconds()))
    # In the language of the account's owner, who is the one who asked.
    language = mail_language(user.language, None)
    link = mail_links.in_language(site.url(f"/account/emails/verify/{token}"), language)
    _ = translations(language).gettext
    values = {
        "who": user.display_name or _("Someone"),
        "email": address,
        "name": site.settings.site.name,
        "days": VERIFY_EMAIL_TTL.days,
    }
    asked = _(
        "%(who)s asked to add %(email)s to their account on %(name)s, "
        "so that they can post from it and sign in with it."
    )
    confirm = _("If that was you, confirm:")
    works = _(
        "The link works for %(days)s days. If it was not you, ignore this message: the address will not be added."
    )
    outbox.enqueue_notice(
        session,
        dedupe_key=f"verify-email:{pending.id}:{secrets.token_hex(8)}",
        address=address,
        payload={
            "subject": _("Confirm your address for %(name)s") % values,
            "text": (f"{asked % values}\n\n{confirm} {link}\n\n{works % values}\n"),
        },
    )
    return pending


def pending_email(session: Session, site: Site, token: str) -> PendingEmail:
    """The claim a confirmation link is for, without settling it."""
    return tokens.row_for_token(
        session,
        site.signer,
        VERIFY_EMAIL,
        token,
        PendingEmail,
        invalid=Message(
            N_(
                "this confirmation link is not valid or has expired: add the address again "
                "on your account page to get a new one"
            )
        ),
        used=Message(N_("this confirmation link has already been used, or the address was added another way")),
    )


def verify_email(session: Session, site: Site, token: str) -> UserEmail:
    """Add the address a confirmation link proves to the account that claimed it."""
    pending = pending_email(session, site, token)
    owned = session.scalar(select(UserEmail).where(UserEmail.email == pending.email))
    if owned is not None and owned.user_id != pending.user_id:
        taken = N_("%(email)s already belongs to another account, so it cannot be added to this one")
        raise InvalidInput(Message(taken, {"email": pending.email}))
    if owned is None:
        owned = UserEmail(user_id=pending.user_id, email=pending.email, is_primary=False, verified=True)
        session.add(owned)
    # Every claim on the address is settled now: it is proven to be this account's.
    session.execute(delete(PendingEmail).where(PendingEmail.email == pending.email))
    session.flush()
    return owned


def _own_email(user: User, email_id: int) -> UserEmail:
    for email in user.emails:
        if email.id == email_id:
            return email
    raise NotFound(Message(N_("that address is not on your account")))


def make_primary(session: Session, user: User, email_id: int) -> UserEmail:
    """Send the user's mail to another of their (proven) addresses from now on."""
    chosen = _own_email(user, email_id)
    for email in user.emails:
        email.is_primary = email is chosen
    session.flush()
    return chosen


def remove_email(session: Session, user: User, email_id: int) -> str:
    """Take an extra address off the account; the primary one stays (mail must go somewhere)."""
    email = _own_email(user, email_id)
    if email.is_primary:
        main = N_("%(email)s is your main address: make another address main before removing it")
        raise InvalidInput(Message(main, {"email": email.email}))
    session.delete(email)
    session.flush()
    return email.email


# Taking part ----------------------------------------------------------------------------


def proven_account(session: Session, email: str, name: str = "") -> User:
    """The account of ``email``, made when there is none, for someone who has just followed a
    link mailed to that address (joining, an invitation, a request to join): following it
    proved the address is theirs, so a new account's address starts out verified."""
    user = user_by_email(session, email)
    if user is None:
        user = User(
            display_name=name.strip()[:200] or email.split("@")[0],
            emails=[UserEmail(email=email, is_primary=True, verified=True)],
        )
        session.add(user)
        session.flush()
    return user


def join(session: Session, site: Site, user: User, community: Community) -> Membership:
    """Join public ``community`` at once; joining again changes nothing.

    A restricted community is joined by a request its facilitators decide
    (:func:`forum.join_requests.ask`), a private one by invitation only: for a non-member
    it is not there at all.
    """
    membership = membership_of(session, user, community)
    if membership is not None:
        if membership.status is MemberStatus.banned:
            raise NotPermitted(Message(N_("you may not join %(name)s"), {"name": community.name}))
        return membership
    if community.is_private:
        raise NotFound(Message(N_("there is no such community here")))
    if not community.is_public:
        by_request = N_("%(name)s takes new members by request: ask to join on its page")
        raise InvalidInput(Message(by_request, {"name": community.name}))
    membership = Membership(community_id=community.id, user_id=user.id, status=MemberStatus.active)
    session.add(membership)
    session.flush()
    return membership


def leave(session: Session, user: User, community: Community) -> None:
    """Leave ``community``; leaving twice is fine. A ban is kept (with no mail), never lifted.

    Every door out (the membership page, the unsubscribe link and its one-click POST, mail
    to ``SLUG-unsubscribe@``) comes here, so none can take away a community's last
    facilitator: :class:`InvalidInput` says what to do instead.
    """
    membership = membership_of(session, user, community)
    if membership is None:
        return
    if membership.status is MemberStatus.banned:
        membership.delivery = Delivery.none
    else:
        _keep_a_facilitator(session, membership, leaving=True)
        session.delete(membership)
    session.flush()


def change_delivery(session: Session, user: User, community: Community, delivery: Delivery) -> Membership:
    membership = membership_of(session, user, community)
    if membership is None:
        raise NotFound(Message(N_("you are not a member of %(name)s"), {"name": community.name}))
    membership.delivery = delivery
    session.flush()
    return membership


def unsubscribe_target(session: Session, site: Site, token: str) -> tuple[User, Community]:
    """Who an unsubscribe link (as in every mail's List-Unsubscribe) is for, and from what."""
    try:
        user_id, community_id = site.signer.verify(tokens.UNSUBSCRIBE, token, count=2)
    except tokens.BadToken:
        raise NotFound(
            Message(N_("this unsubscribe link is not valid: check that the whole link was copied"))
        ) from None
    user, community = session.get(User, user_id), session.get(Community, community_id)
    if user is None or community is None:
        raise NotFound(Message(N_("this unsubscribe link is for an account or community that no longer exists")))
    return user, community


def unsubscribe(session: Session, site: Site, token: str) -> Community:
    """One-click unsubscribe (RFC 8058): leave the community the link was mailed from.

    Leaving, not only stopping mail, as Mailman and the big mailbox providers mean it: the
    facilitators' notices stop too, and nothing keeps arriving from the list.
    """
    user, community = unsubscribe_target(session, site, token)
    leave(session, user, community)
    return community


# Facilitators ---------------------------------------------------------------------------


def _member(session: Session, community: Community, user_id: int) -> Membership:
    membership = session.scalar(
        select(Membership).where(Membership.community_id == community.id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound(Message(N_("that person is not a member of %(name)s"), {"name": community.name}))
    return membership


def last_facilitator_problem(session: Session, membership: Membership | None, *, leaving: bool) -> Message | None:
    """Why ``membership`` may not end or stop facilitating: it is its community's last active
    facilitator, and a community needs someone to run it. None when it may.

    ``leaving``: said to the member themselves, who is leaving; otherwise to a facilitator
    removing them or changing their role.
    """
    if membership is None or membership.role is not Role.facilitator or membership.status is not MemberStatus.active:
        return None
    others = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.community_id == membership.community_id,
            Membership.role == Role.facilitator,
            Membership.status == MemberStatus.active,
            Membership.id != membership.id,
        )
    )
    if others:
        return None
    values = {"name": session.get_one(Community, membership.community_id).name}
    if leaving:
        only = N_(
            "you are the only facilitator of %(name)s, and a community needs one to run it: make another "
            "member a facilitator on its members page first, then leave"
        )
        return Message(only, values)
    return Message(N_("%(name)s needs at least one facilitator: make someone else facilitator first"), values)


def _keep_a_facilitator(session: Session, membership: Membership, *, leaving: bool = False) -> None:
    problem = last_facilitator_problem(session, membership, leaving=leaving)
    if problem:
        raise InvalidInput(problem)


def approve_member(session: Session, community: Community, user_id: int) -> Membership:
    membership = _member(session, community, user_id)
    if membership.status is not MemberStatus.pending:
        raise InvalidInput(Message(N_("that person is not waiting to join")))
    membership.status = MemberStatus.active
    session.flush()
    return membership


def set_role(session: Session, community: Community, user_id: int, role: Role) -> Membership:
    membership = _member(session, community, user_id)
    if role is not Role.facilitator:
        _keep_a_facilitator(session, membership)
    membership.role = role
    session.flush()
    return membership


@dataclass(frozen=True)
class Removal:
    signed_out: bool  # it was their last community, so their web sessions ended too


def remove_member(session: Session, community: Community, user_id: int) -> Removal:
    """Take someone out of ``community`` (never its last facilitator).

    Someone removed from their last community is signed out of every browser as well: a
    removal should not leave a session behind that was started while they belonged.
    """
    membership = _member(session, community, user_id)
    _keep_a_facilitator(session, membership)
    session.delete(membership)
    session.flush()
    if session.scalar(select(Membership.id).where(Membership.user_id == user_id).limit(1)) is not None:
        return Removal(signed_out=False)
    browser_sessions.end_all(session, user_id)
    return Removal(signed_out=True)
