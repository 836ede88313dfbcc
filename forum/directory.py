"""Communities and their members: creating, adding, importing from a spreadsheet.

Shared by the command line and (later) the facilitators' web pages, so both apply the
same validation and produce the same errors.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from forum.errors import InvalidInput
from forum.models import (
    Community,
    Delivery,
    Membership,
    MemberStatus,
    PostingPolicy,
    Role,
    User,
    UserEmail,
    Visibility,
)
from forum.posting import community_by_slug

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# Local-part suffixes the mail gateway owns (SLUG-owner@, SLUG-bounces@ …): a slug may not end so.
RESERVED_SUFFIXES = ("-owner", "-bounces", "-subscribe", "-unsubscribe", "-request", "-join", "-leave", "-confirm")


def normalize_email(address: str) -> str:
    """A deliverable-looking address, lowercased; InvalidInput naming it otherwise.

    Deliverability (DNS) is not checked: sites without DNS must work, and an MX can come
    and go; the syntax check is what catches spreadsheet typos.
    """
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"{address.strip()!r} is not a valid email address: {exc}") from None


def create_community(
    session: Session, slug: str, name: str, *, private: bool = False, policy: str = "members",
    description: str = "", subject_prefix: str = "", require_authentication: str = "",
) -> Community:
    given, slug = slug, slug.strip().lower()
    if not SLUG_RE.match(slug) or slug.endswith(RESERVED_SUFFIXES):
        raise InvalidInput(
            f'"{given}" cannot be a community address: use lowercase letters, digits and dashes, '
            f"not ending in {', '.join(RESERVED_SUFFIXES)}"
        )
    if session.scalar(select(Community.id).where(Community.slug == slug)) is not None:
        raise InvalidInput(f'a community "{slug}" already exists')
    if require_authentication not in ("", "always", "never"):
        raise InvalidInput(f'require_authentication is "always", "never" or "" (as the site says), '
                           f"not {require_authentication!r}")
    community = Community(
        slug=slug, name=name.strip() or slug, description=description,
        visibility=Visibility.private if private else Visibility.public,
        posting_policy=PostingPolicy(policy), subject_prefix=subject_prefix,
        require_authentication=require_authentication,
    )
    session.add(community)
    session.flush()
    return community


@dataclass(frozen=True)
class MemberRow:
    email: str
    name: str = ""
    role: Role = Role.member
    delivery: Delivery = Delivery.each


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int


def _choice(enum: type, value: str, what: str) -> object:
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"{what} must be one of {allowed}, not {value!r}") from None


def member_row(email: str, name: str = "", role: str = "member", delivery: str = "each") -> MemberRow:
    return MemberRow(
        email=normalize_email(email),
        name=name.strip(),
        role=_choice(Role, role or "member", "role"),  # type: ignore[arg-type]
        delivery=_choice(Delivery, delivery or "each", "delivery"),  # type: ignore[arg-type]
    )


def read_member_csv(text: str, source: str) -> list[MemberRow]:
    """Parse and validate a whole spreadsheet before anything is written.

    Every bad row is reported with its line number in one error, so a facilitator fixes
    the file once instead of once per mistake.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise InvalidInput(f"{source}: line 1: the header must name an 'email' column (found: {', '.join(header) or 'nothing'})")
    unknown = set(header) - {"email", "name", "role", "delivery"}
    if unknown:
        raise InvalidInput(f"{source}: line 1: unknown column(s) {', '.join(sorted(unknown))}; use email,name,role,delivery")
    reader.fieldnames = header
    rows: dict[str, MemberRow] = {}
    errors: list[str] = []
    for record in reader:
        line = reader.line_num
        values = {k: (v or "") for k, v in record.items() if k is not None}
        if not any(v.strip() for v in values.values()):
            continue
        try:
            row = member_row(values.get("email", ""), values.get("name", ""), values.get("role", ""),
                             values.get("delivery", ""))
        except InvalidInput as exc:
            errors.append(f"{source}: line {line}: {exc.message}")
            continue
        rows[row.email] = row
    if errors:
        shown = errors[:20] + ([f"… and {len(errors) - 20} more bad rows"] if len(errors) > 20 else [])
        raise InvalidInput(f"{len(errors)} bad row(s), nothing imported: " + "; ".join(shown))
    return list(rows.values())


def upsert_members(session: Session, community: Community, rows: Iterable[MemberRow]) -> ImportReport:
    """Add or update members; re-running the same rows changes nothing (idempotent).

    Loads the users and memberships concerned in bulk, so 10,000 rows cost a handful of
    queries plus the inserts.
    """
    rows = list(rows)
    emails = [r.email for r in rows]
    known: dict[str, UserEmail] = {}
    for chunk in _chunks(emails, 500):
        for ue in session.scalars(
            select(UserEmail).options(joinedload(UserEmail.user)).where(UserEmail.email.in_(chunk))
        ):
            known[ue.email] = ue
    members = {
        m.user_id: m
        for m in session.scalars(select(Membership).where(Membership.community_id == community.id))
    }
    added = updated = unchanged = 0
    new_users: list[tuple[MemberRow, User]] = []
    for row in rows:
        ue = known.get(row.email)
        if ue is None:
            user = User(display_name=row.name)
            user.emails.append(UserEmail(email=row.email, is_primary=True, verified=True))
            session.add(user)
            new_users.append((row, user))
            continue
        member = members.get(ue.user_id)
        if member is None:
            session.add(Membership(community_id=community.id, user_id=ue.user_id, role=row.role, delivery=row.delivery))
            added += 1
        elif (member.role, member.delivery, member.status) != (row.role, row.delivery, MemberStatus.active) and \
                member.status is not MemberStatus.banned:
            member.role, member.delivery, member.status = row.role, row.delivery, MemberStatus.active
            updated += 1
        else:
            unchanged += 1
        if row.name and not ue.user.display_name:
            ue.user.display_name = row.name
    session.flush()
    for row, user in new_users:
        session.add(Membership(community_id=community.id, user_id=user.id, role=row.role, delivery=row.delivery))
        added += 1
    session.flush()
    return ImportReport(added=added, updated=updated, unchanged=unchanged)


def add_member(session: Session, slug: str, row: MemberRow) -> ImportReport:
    return upsert_members(session, community_by_slug(session, slug), [row])


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def moderators(session: Session, community: Community) -> list[tuple[str, int]]:
    """(primary email, user id) of the community's active facilitators and moderators."""
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(UserEmail.email, Membership.user_id).join(Membership, Membership.user_id == UserEmail.user_id)
        .where(Membership.community_id == community.id, Membership.status == MemberStatus.active,
               Membership.role.in_([Role.facilitator, Role.moderator]), UserEmail.is_primary.is_(True))
        .order_by(Membership.id)
    )]
