"""Communities and their members: creating, adding, importing from a spreadsheet.

Shared by the command line and (later) the facilitators' web pages, so both apply the
same validation and produce the same errors.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TextIO, TypeVar

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from forum.catalogue import category_label
from forum.errors import InvalidInput
from forum.languages import check_community_language, check_member_language
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
    utcnow,
)
from forum.posting import community_by_slug

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# Local-part suffixes the mail gateway owns (SLUG-owner@, SLUG-bounces@ …): a slug may not end so.
RESERVED_SUFFIXES = (
    "-owner",
    "-bounces",
    "-subscribe",
    "-unsubscribe",
    "-decide",
    "-request",
    "-join",
    "-leave",
    "-confirm",
    "-private",
    "-preifat",
    "-moderate",
)
# A member spreadsheet's columns, as imported and as listed; only email is required.
# plain_text: "yes" for mail as plain text only, "no" for both parts; empty: as it is.
CSV_COLUMNS = ("email", "name", "role", "delivery", "status", "language", "plain_text")
_YES, _NO = ("yes", "y", "true", "1"), ("no", "n", "false", "0")
# Columns the facilitators' export adds (forum.roster), read past so that it imports back.
EXPORTED_ONLY = ("joined", "bounce")
# Local parts that are the site's own (postmaster@ must reach its operators, RFC 5321 §4.5.1;
# noreply@ sends notices and digests) or that people and machines expect to be a server's.
RESERVED_NAMES = frozenset({"noreply", "postmaster", "abuse", "mailer-daemon", "root", "admin", "www", "listbridge"})


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
    session: Session,
    slug: str,
    name: str,
    *,
    private: bool = False,
    visibility: str = "",
    policy: str = "members",
    description: str = "",
    subject_prefix: str = "",
    require_authentication: str = "",
    language: str = "en",
    category: str = "",
    moderate_new: int = 0,
) -> Community:
    slug = check_new_slug(session, slug)
    if require_authentication not in ("", "always", "never"):
        raise InvalidInput(
            f'require_authentication is "always", "never" or "" (as the site says), not {require_authentication!r}'
        )
    community = Community(
        slug=slug,
        name=community_name(name),
        description=description.strip(),
        visibility=_choice(Visibility, visibility, "visibility")
        if visibility
        else (Visibility.private if private else Visibility.public),
        posting_policy=PostingPolicy(policy),
        subject_prefix=subject_prefix.strip(),
        require_authentication=require_authentication,
        language=check_community_language(language),
        category=category_label(session, category),
        moderate_new=first_posts_reviewed(moderate_new),
    )
    session.add(community)
    session.flush()
    return community


def check_new_slug(session: Session, slug: str) -> str:
    """``slug`` trimmed, if it can be a new community's address; InvalidInput saying why not."""
    given, slug = slug, slug.strip()
    if slug.lower() in RESERVED_NAMES:
        raise InvalidInput(f'"{given}" cannot be a community address: {slug.lower()}@ is reserved for the site itself')
    if slug != slug.lower() and SLUG_RE.match(slug.lower()):
        # Said, not silently lowered: "Housing" would otherwise be told that "housing" exists.
        raise InvalidInput(f'"{given}" has capitals, and community addresses are lowercase: use "{slug.lower()}"')
    if not SLUG_RE.match(slug) or slug.endswith(RESERVED_SUFFIXES):
        raise InvalidInput(
            f'"{given}" cannot be a community address: use lowercase letters, digits and dashes, '
            f"not ending in {', '.join(RESERVED_SUFFIXES)}"
        )
    if session.scalar(select(Community.id).where(Community.slug == slug)) is not None:
        raise InvalidInput(f'a community "{slug}" already exists')
    return slug


def community_name(name: str) -> str:
    """``name`` trimmed, or InvalidInput: a community is shown by its name everywhere."""
    if not name.strip():
        raise InvalidInput("the community's name is empty: give it a name people will recognise")
    return name.strip()


def edit_community(
    session: Session,
    community: Community,
    *,
    name: str | None = None,
    description: str | None = None,
    policy: str | None = None,
    subject_prefix: str | None = None,
    language: str | None = None,
    category: str | None = None,
    visibility: str | None = None,
    moderate_new: int | None = None,
) -> Community:
    """Change what is given of a community's name, description, posting policy, subject prefix,
    language, category ("" for none), visibility and how many of a new member's posts are
    reviewed."""
    if name is not None:
        community.name = community_name(name)
    if description is not None:
        community.description = description.strip()
    if policy is not None:
        community.posting_policy = _choice(PostingPolicy, policy, "policy")
    if subject_prefix is not None:
        community.subject_prefix = subject_prefix.strip()
    if language is not None:
        community.language = check_community_language(language)
    if category is not None:
        community.category = category_label(session, category)
    if visibility is not None:
        community.visibility = _choice(Visibility, visibility, "visibility")
    if moderate_new is not None:
        community.moderate_new = first_posts_reviewed(moderate_new)
    session.flush()
    return community


def set_archived(session: Session, community: Community, archived: bool) -> Community:
    """Archive ``community`` (still readable; no new posts by any door: ``forum.access``) or reopen it."""
    if archived and community.archived_at is None:
        community.archived_at = utcnow()
    elif not archived:
        community.archived_at = None
    session.flush()
    return community


MAX_MODERATE_NEW = 100


def first_posts_reviewed(count: int) -> int:
    """``count`` as :attr:`Community.moderate_new`, or InvalidInput: 0 (nobody's posts) up to
    :data:`MAX_MODERATE_NEW`, past which a newcomer is simply moderated."""
    if not 0 <= count <= MAX_MODERATE_NEW:
        raise InvalidInput(
            f"the number of a new member's posts to review is 0 (none) to {MAX_MODERATE_NEW}, not {count}"
        )
    return count


@dataclass(frozen=True)
class MemberRow:
    email: str
    name: str = ""
    role: Role = Role.member
    delivery: Delivery = Delivery.each
    status: MemberStatus = MemberStatus.active
    show_address: bool | None = None  # None: leave the member's choice as it is
    language: str | None = None  # "cy" or "en"; None: leave the member's choice as it is
    plain_text: bool | None = None  # mail as plain text only; None: leave the member's choice as it is


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int


def _choice(enum: type[E], value: str, what: str) -> E:
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"{what} must be one of {allowed}, not {value!r}") from None


def member_row(
    email: str,
    name: str = "",
    role: str = "member",
    delivery: str = "each",
    status: str = "active",
    language: str = "",
    plain_text: str = "",
    *,
    show_address: bool | None = None,
) -> MemberRow:
    """A validated row; InvalidInput naming every problem of it, not only the first."""
    problems: list[str] = []

    def checked(check: Callable[[], T]) -> T | None:
        try:
            return check()
        except InvalidInput as exc:
            problems.append(exc.message)
            return None

    address = checked(lambda: normalize_email(email))
    chosen_role = checked(lambda: _choice(Role, role or "member", "role"))
    chosen_delivery = checked(lambda: _choice(Delivery, delivery or "each", "delivery"))
    chosen_status = checked(lambda: _choice(MemberStatus, status or "active", "status"))
    chosen_language = checked(lambda: check_member_language(language)) if language.strip() else None
    chosen_format = checked(lambda: _yes_or_no(plain_text, "plain_text"))
    if problems:
        raise InvalidInput("; ".join(problems))
    # Each is None only when its check failed, which the line above has reported.
    assert address is not None and chosen_role and chosen_delivery and chosen_status
    return MemberRow(
        email=address,
        name=name.strip(),
        role=chosen_role,
        delivery=chosen_delivery,
        status=chosen_status,
        show_address=show_address,
        language=chosen_language,
        plain_text=chosen_format,
    )


def _yes_or_no(value: str, what: str) -> bool | None:
    """A spreadsheet's yes or no; None for empty (leave it as it is)."""
    word = value.strip().lower()
    if not word:
        return None
    if word in _YES or word in _NO:
        return word in _YES
    raise InvalidInput(f"{what} must be yes or no, not {value!r}")


def read_member_csv(text: str, source: str) -> list[MemberRow]:
    """Parse and validate a whole spreadsheet before anything is written.

    Every bad row is reported, one line each, with its line number and all that is wrong
    with it, so a facilitator fixes the file once instead of once per mistake.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise InvalidInput(
            f"{source}: line 1: the header must name an 'email' column (found: {', '.join(header) or 'nothing'})"
        )
    unknown = set(header) - set(CSV_COLUMNS) - set(EXPORTED_ONLY)
    if unknown:
        raise InvalidInput(
            f"{source}: line 1: unknown column(s) {', '.join(sorted(unknown))}; use {','.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    rows: dict[str, MemberRow] = {}
    errors: list[str] = []
    for record in reader:
        line = reader.line_num
        values = {k: (v or "") for k, v in record.items() if k is not None}
        if not any(v.strip() for v in values.values()):
            continue
        try:
            row = member_row(*(values.get(column, "") for column in CSV_COLUMNS))
        except InvalidInput as exc:
            errors.append(f"{source}: line {line}: {exc.message}")
            continue
        rows[row.email] = row
    if errors:
        raise InvalidInput("\n".join([*errors, f"{source}: {len(errors)} bad row(s), nothing imported"]))
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
        for address in session.scalars(
            select(UserEmail).options(joinedload(UserEmail.user)).where(UserEmail.email.in_(chunk))
        ):
            known[address.email] = address
    members = {m.user_id: m for m in session.scalars(select(Membership).where(Membership.community_id == community.id))}
    added = updated = unchanged = 0
    new_users: list[tuple[MemberRow, User]] = []
    for row in rows:
        ue = known.get(row.email)
        if ue is None:
            user = User(display_name=row.name, language=row.language, plain_text=bool(row.plain_text))
            user.emails.append(UserEmail(email=row.email, is_primary=True, verified=True))
            session.add(user)
            new_users.append((row, user))
            continue
        # A member's language and mail format are theirs in every community: a row names them to change them.
        user_changed = row.language is not None and row.language != ue.user.language
        if user_changed:
            ue.user.language = row.language
        if row.plain_text is not None and row.plain_text != ue.user.plain_text:
            ue.user.plain_text = row.plain_text
            user_changed = True
        member = members.get(ue.user_id)
        if member is None:
            session.add(
                Membership(
                    community_id=community.id,
                    user_id=ue.user_id,
                    role=row.role,
                    delivery=row.delivery,
                    status=row.status,
                    show_address=bool(row.show_address),
                )
            )
            added += 1
        elif (_changes(member, row) or user_changed) and member.status is not MemberStatus.banned:
            # a ban is lifted by a facilitator, never by a file
            member.role, member.delivery, member.status = row.role, row.delivery, row.status
            if row.show_address is not None:
                member.show_address = row.show_address
            updated += 1
        else:
            unchanged += 1
        if row.name and not ue.user.display_name:
            ue.user.display_name = row.name
    session.flush()
    for row, user in new_users:
        session.add(
            Membership(
                community_id=community.id,
                user_id=user.id,
                role=row.role,
                delivery=row.delivery,
                status=row.status,
                show_address=bool(row.show_address),
            )
        )
        added += 1
    session.flush()
    return ImportReport(added=added, updated=updated, unchanged=unchanged)


def _changes(member: Membership, row: MemberRow) -> bool:
    """Whether ``row`` says something else than ``member`` already is."""
    shown = member.show_address if row.show_address is None else row.show_address
    return (member.role, member.delivery, member.status, member.show_address) != (
        row.role,
        row.delivery,
        row.status,
        shown,
    )


def add_member(session: Session, slug: str, row: MemberRow) -> ImportReport:
    return upsert_members(session, community_by_slug(session, slug), [row])


@dataclass(frozen=True)
class MemberListing:
    """One member as listed and exported: the import's columns (see :data:`CSV_COLUMNS`)."""

    email: str
    name: str
    role: Role
    delivery: Delivery
    status: MemberStatus
    language: str | None
    plain_text: bool = False

    def csv_values(self) -> tuple[str, ...]:
        plain = "yes" if self.plain_text else ""
        return (
            self.email,
            self.name,
            self.role.value,
            self.delivery.value,
            self.status.value,
            self.language or "",
            plain,
        )


def member_listing(session: Session, community: Community, *, batch: int = 1000) -> Iterator[MemberListing]:
    """Every member of ``community`` by address, read in batches as it is consumed, so
    listing a community of tens of thousands holds only a batch in memory."""
    query = (
        select(
            UserEmail.email,
            User.display_name,
            Membership.role,
            Membership.delivery,
            Membership.status,
            User.language,
            User.plain_text,
        )
        .join(User, User.id == Membership.user_id)
        .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
        .where(Membership.community_id == community.id)
        .order_by(UserEmail.email)
        .execution_options(yield_per=batch)
    )
    for row in session.execute(query):
        yield MemberListing(*row)


def write_member_csv(listing: Iterable[MemberListing], out: TextIO) -> int:
    """Write ``listing`` as a spreadsheet ``member import`` reads back; the number of rows."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for member in listing:
        writer.writerow(member.csv_values())
        count += 1
    return count


def delete_community(session: Session, community: Community) -> None:
    """Delete ``community`` with everything in it (posts, threads, memberships, chat links);
    the accounts of its members stay, and attachment files stay in the blob store (shared by content)."""
    session.execute(delete(Community).where(Community.id == community.id))
    session.expunge(community)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def moderators(session: Session, community: Community) -> list[tuple[str, int]]:
    """(primary email, user id) of the community's active facilitators and moderators."""
    return list(
        session.execute(
            select(UserEmail.email, Membership.user_id)
            .join(Membership, Membership.user_id == UserEmail.user_id)
            .where(
                Membership.community_id == community.id,
                Membership.status == MemberStatus.active,
                Membership.role.in_([Role.facilitator, Role.moderator]),
                UserEmail.is_primary.is_(True),
            )
            .order_by(Membership.id)
        )
    )
