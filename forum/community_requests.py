"""Asking for a new community, and a site administrator's decision.

A member asks (name, purpose, category, kind of space, address); the request is checked
as ``listbridge community create`` checks a community, so an approval cannot fail on a
name the form accepted, and every site administrator is told by mail. Approving creates
the community with what was asked and makes the requester its facilitator; declining
keeps the request with the reason. Either way the requester is told by mail, in their
language. The web calls these; nothing here knows about pages.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from forum import operators, outbox, site_admins
from forum.catalogue import normalize_category
from forum.directory import MemberRow, check_new_slug, community_name, create_community, upsert_members
from forum.errors import InvalidInput, NotFound
from forum.mail_language import language_for, translations, translations_for
from forum.mail_links import in_language
from forum.models import Community, CommunityRequest, RequestStatus, Role, User, Visibility, utcnow
from forum.site import Site

# Requests one person may have waiting at once: enough for a real need, not for a flood.
MAX_PENDING_PER_PERSON = 3


def suggested_slug(name: str) -> str:
    """An address for a community called ``name``: "Tai Cymru – Housing" gives "tai-cymru-housing"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:64].strip("-")


def ask(
    session: Session,
    site: Site,
    user: User,
    *,
    slug: str,
    name: str,
    description: str,
    category: str,
    visibility: Visibility,
) -> CommunityRequest:
    """Record ``user``'s request and tell the site administrators; InvalidInput saying what
    is wrong with it (the address taken or asked for already, too many requests waiting)."""
    slug = check_slug(session, slug)
    if _pending(session, CommunityRequest.user_id == user.id) >= MAX_PENDING_PER_PERSON:
        raise InvalidInput(
            f"you have {MAX_PENDING_PER_PERSON} requests waiting already: ask again once they are decided"
        )
    request = CommunityRequest(
        user_id=user.id,
        slug=slug,
        name=community_name(name),
        description=description.strip(),
        category=normalize_category(category),
        visibility=visibility,
    )
    session.add(request)
    session.flush()
    _tell_admins(session, site, request, user)
    return request


def check_slug(session: Session, slug: str) -> str:
    """``slug`` trimmed, if a new community may be asked for at it; InvalidInput saying why not."""
    slug = check_new_slug(session, slug)
    if _pending(session, CommunityRequest.slug == slug):
        raise InvalidInput(f'someone has already asked for a community at "{slug}": choose another address')
    return slug


def _pending(session: Session, condition: ColumnElement[bool]) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CommunityRequest)
            .where(condition, CommunityRequest.status == RequestStatus.pending)
        )
        or 0
    )


def pending(session: Session) -> list[CommunityRequest]:
    """The requests waiting for a decision, oldest first."""
    return list(
        session.scalars(
            select(CommunityRequest)
            .where(CommunityRequest.status == RequestStatus.pending)
            .order_by(CommunityRequest.created_at, CommunityRequest.id)
        )
    )


def requests_of(session: Session, user_id: int) -> list[CommunityRequest]:
    """What ``user_id`` has asked for, newest first."""
    return list(
        session.scalars(
            select(CommunityRequest)
            .where(CommunityRequest.user_id == user_id)
            .order_by(CommunityRequest.created_at.desc(), CommunityRequest.id.desc())
        )
    )


def _waiting(session: Session, request_id: int) -> CommunityRequest:
    request = session.get(CommunityRequest, request_id)
    if request is None:
        raise NotFound(f"there is no request {request_id}")
    if request.status is not RequestStatus.pending:
        raise InvalidInput(f'the request for "{request.name}" is {request.status.value} already')
    return request


def approve(session: Session, site: Site, request_id: int, admin: User, note: str = "") -> Community:
    """Create the community asked for, with its requester as facilitator, and tell them."""
    request = _waiting(session, request_id)
    community = create_community(
        session,
        request.slug,
        request.name,
        description=request.description,
        category=request.category,
    )
    community.visibility = request.visibility
    requester = request.user
    upsert_members(session, community, [MemberRow(email=primary_email(requester), role=Role.facilitator)])
    _decide(request, RequestStatus.approved, admin, note, community)
    language = language_for(session, requester.id, community.language)
    _ = translations(language).gettext
    url = in_language(site.url(f"/c/{community.slug}/"), language)
    values = {"name": community.name, "url": url, "address": _address(site, community)}
    text = [
        _("Your request is approved: %(name)s is ready, and you are its facilitator.") % values,
        _("Its page: %(url)s") % values,
        _("Its address for posts: %(address)s") % values,
    ]
    if note.strip():
        text.append(_("A note from the site administrator: %(note)s") % {"note": note.strip()})
    _tell_requester(session, request, _("%(name)s is ready") % values, text)
    return community


def decline(session: Session, request_id: int, admin: User, reason: str) -> CommunityRequest:
    """Decline a request and mail its requester the reason."""
    request = _waiting(session, request_id)
    _decide(request, RequestStatus.declined, admin, reason)
    _ = translations_for(session, request.user_id, None).gettext
    values = {"name": request.name, "reason": reason.strip() or _("(none given)")}
    text = [
        _('Your request for a community called "%(name)s" was declined.') % values,
        _("The site administrator's reason: %(reason)s") % values,
    ]
    _tell_requester(session, request, _("Your request for %(name)s was declined") % values, text)
    return request


def _decide(
    request: CommunityRequest, status: RequestStatus, admin: User, note: str, community: Community | None = None
) -> None:
    request.status = status
    request.decision_note = note.strip()
    request.decided_by_id = admin.id
    request.decided_at = utcnow()
    request.community_id = community.id if community is not None else None


def primary_email(user: User) -> str:
    return next(e.email for e in user.emails if e.is_primary)


def _address(site: Site, community: Community) -> str:
    return f"{community.slug}@{site.mail_domain}"


def _tell_requester(session: Session, request: CommunityRequest, subject: str, lines: list[str]) -> None:
    requester = request.user
    outbox.enqueue_notice(
        session,
        dedupe_key=f"community-request:{request.id}:{request.status.value}",
        address=primary_email(requester),
        user_id=requester.id,
        payload={"subject": subject, "text": "\n\n".join(lines) + "\n"},
    )


def _tell_admins(session: Session, site: Site, request: CommunityRequest, user: User) -> None:
    """Mail every site administrator; with none named yet, the operators, saying how to name one."""
    admins = site_admins.admins(session)
    if not admins:
        operators.tell(
            session,
            site.settings,
            key=f"community-request:{request.id}",
            subject=f"A request for a new community waits: {request.name}",
            text=f"{user.display_name or 'Someone'} asks for a new community, {request.name}, and the site has "
            "no administrator to decide it. Name one with 'listbridge site admin add EMAIL'; they will "
            f"find it at {site.url('/admin/requests')}\n",
        )
    for admin in admins:
        language = language_for(session, admin.user_id, None)
        _ = translations(language).gettext
        values = {
            "who": user.display_name or _("Someone"),
            "name": request.name,
            "purpose": request.description or _("(none given)"),
            "url": in_language(site.url("/admin/requests"), language),
        }
        outbox.enqueue_notice(
            session,
            dedupe_key=f"community-request:{request.id}:admin:{admin.user_id}",
            address=admin.email,
            user_id=admin.user_id,
            payload={
                "subject": _("%(who)s asks for a new community: %(name)s") % values,
                "text": "\n\n".join(
                    [
                        _("%(who)s asks for a new community, %(name)s.") % values,
                        _("Its purpose: %(purpose)s") % values,
                        _("Approve or decline: %(url)s") % values,
                    ]
                )
                + "\n",
            },
        )
