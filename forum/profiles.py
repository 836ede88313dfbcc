"""Members' profiles: what they say about their work, and who may see it.

Each member chooses who sees their profile (``ProfileVisibility``): the members of a
community they are in too (the default: those people already see their name on their
posts, so a profile tells no stranger anything), every signed-in member, or nobody. Nobody
who is not signed in sees any profile. A member's address is shown only when they opt in.

The rule is one SQL condition (:func:`visible_to`), so a page of one profile and a search
over thousands apply exactly the same rule, and a profile that may not be seen is "not
found", never "forbidden".
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from forum.archive import public_name
from forum.directory import normalize_email
from forum.errors import InvalidInput, NotFound
from forum.models import (
    ExpertiseTag,
    Membership,
    MemberStatus,
    Profile,
    ProfileVisibility,
    User,
    UserEmail,
    UserExpertise,
)

T = TypeVar("T")

MAX_FIELD = 200
MAX_BIO = 2000
MAX_LINKS = 5
MAX_TAG = 100
MAX_TAGS = 20
# A person spreadsheet's columns, all but email optional; expertise separated by ";".
CSV_COLUMNS = ("email", "name", "organisation", "job_title", "region", "expertise")
_LINK = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def fold(label: str) -> str:
    """An expertise label as it is compared: case, accents and spacing ignored."""
    decomposed = unicodedata.normalize("NFKD", label)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def visible_to(viewer_id: int | None) -> ColumnElement[bool]:
    """Whether the viewer may see a profile, as a condition on ``User`` outer-joined to
    ``Profile`` (a member without a row has the default, ``shared``)."""
    if viewer_id is None:
        return false()
    setting = func.coalesce(Profile.visibility, ProfileVisibility.shared.value)
    mine = aliased(Membership)
    theirs = aliased(Membership)
    sharing = (
        select(theirs.user_id)
        .join(mine, mine.community_id == theirs.community_id)
        .where(
            mine.user_id == viewer_id,
            mine.status == MemberStatus.active,
            theirs.status == MemberStatus.active,
        )
    )
    return or_(
        User.id == viewer_id,
        setting == ProfileVisibility.members.value,
        and_(setting == ProfileVisibility.shared.value, User.id.in_(sharing)),
    )


@dataclass(frozen=True)
class PersonCard:
    """A profile as another member sees it: a name, never an address unless they chose."""

    user_id: int
    name: str
    organisation: str
    job_title: str
    region: str
    bio: str
    links: tuple[str, ...]
    expertise: tuple[str, ...]
    has_photo: bool
    email: str | None


def cards(session: Session, user_ids: Sequence[int]) -> dict[int, PersonCard]:
    """The cards of ``user_ids`` in three queries, whoever many; the caller has applied
    :func:`visible_to`."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, Profile)
        .outerjoin(Profile, Profile.user_id == User.id)
        .where(User.id.in_(user_ids))
    ).all()
    expertise: dict[int, list[str]] = {}
    for user_id, label in session.execute(
        select(UserExpertise.user_id, ExpertiseTag.label)
        .join(ExpertiseTag, ExpertiseTag.id == UserExpertise.tag_id)
        .where(UserExpertise.user_id.in_(user_ids))
        .order_by(ExpertiseTag.label)
    ):
        expertise.setdefault(user_id, []).append(label)
    shown = [row.id for row in rows if row.Profile is not None and row.Profile.show_email]
    emails = dict(
        session.execute(
            select(UserEmail.user_id, UserEmail.email).where(UserEmail.user_id.in_(shown), UserEmail.is_primary)
        ).all()
    )
    result = {}
    for user_id, display_name, profile in rows:
        p = profile or Profile()
        result[user_id] = PersonCard(
            user_id=user_id,
            name=public_name(display_name),
            organisation=p.organisation or "",
            job_title=p.job_title or "",
            region=p.region or "",
            bio=p.bio or "",
            links=tuple(link for link in (p.links or "").splitlines() if link),
            expertise=tuple(expertise.get(user_id, ())),
            has_photo=bool(p.photo_sha256),
            email=emails.get(user_id),
        )
    return result


def card_for(session: Session, viewer_id: int | None, user_id: int) -> PersonCard:
    """The profile of ``user_id`` as the viewer may see it; NotFound when they may not (or
    there is no such member: the two are told apart by nothing)."""
    visible = session.scalar(
        select(User.id).outerjoin(Profile, Profile.user_id == User.id).where(User.id == user_id, visible_to(viewer_id))
    )
    if visible is None:
        raise NotFound("no such person")
    return cards(session, [user_id])[user_id]


def profile_of(session: Session, user_id: int) -> Profile:
    """The member's own profile row, made (with the defaults) when they have none yet."""
    profile = session.get(Profile, user_id)
    if profile is None:
        profile = Profile(
            user_id=user_id,
            organisation="",
            job_title="",
            region="",
            bio="",
            links="",
            visibility=ProfileVisibility.shared,
            show_email=False,
        )
        session.add(profile)
    return profile


def check_text(value: str, what: str, limit: int = MAX_FIELD) -> str:
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def check_links(text: str) -> str:
    """Web addresses, one a line: http or https only (a ``javascript:`` link is refused)."""
    links = [line.strip() for line in text.splitlines() if line.strip()]
    if len(links) > MAX_LINKS:
        raise InvalidInput(f"give at most {MAX_LINKS} links")
    for link in links:
        if len(link) > 500 or not _LINK.match(link):
            raise InvalidInput(f"{link[:80]!r} is not a web address starting with https://")
    return "\n".join(links)


def parse_expertise(text: str, separator: str = ";") -> list[str]:
    """Labels separated by ``separator``, each trimmed, repeats (as folded) dropped."""
    labels: dict[str, str] = {}
    for part in text.split(separator):
        label = " ".join(part.split())
        if not label:
            continue
        if len(label) > MAX_TAG:
            raise InvalidInput(f"an area of expertise is longer than {MAX_TAG} characters: {label[:40]!r}…")
        labels.setdefault(fold(label), label)
    if len(labels) > MAX_TAGS:
        raise InvalidInput(f"give at most {MAX_TAGS} areas of expertise")
    return list(labels.values())


def set_expertise(session: Session, user_id: int, labels: Iterable[str]) -> None:
    """Make ``labels`` the member's areas of expertise, adding new ones to the site's list
    (an existing one keeps the label it was first given)."""
    _set_expertise_of(session, {user_id: list(labels)})


def _set_expertise_of(session: Session, wanted_labels: dict[int, list[str]]) -> set[int]:
    """Set the areas of several members at once, in a few queries whoever many; returns
    the members whose areas changed."""
    if not wanted_labels:
        return set()
    by_key: dict[str, str] = {}
    for labels in wanted_labels.values():
        for label in labels:
            by_key.setdefault(fold(label), label)  # a new area is named as it is first given
    tag_ids = _tag_ids(session, by_key)
    current: dict[int, set[int]] = {}
    for chunk in _chunked(list(wanted_labels), 500):
        for user_id, tag_id in session.execute(
            select(UserExpertise.user_id, UserExpertise.tag_id).where(UserExpertise.user_id.in_(chunk))
        ):
            current.setdefault(user_id, set()).add(tag_id)
    changed: set[int] = set()
    for user_id, labels in wanted_labels.items():
        wanted = {tag_ids[fold(label)] for label in labels}
        had = current.get(user_id, set())
        if had - wanted:
            session.execute(
                delete(UserExpertise).where(UserExpertise.user_id == user_id, UserExpertise.tag_id.in_(had - wanted))
            )
        session.add_all(UserExpertise(user_id=user_id, tag_id=tag_id) for tag_id in wanted - had)
        if wanted != had:
            changed.add(user_id)
    session.flush()
    return changed


def _tag_ids(session: Session, by_key: dict[str, str]) -> dict[str, int]:
    """The ids of the areas with these folded keys, those new to the site's list added."""
    known: dict[str, int] = {}
    for chunk in _chunked(list(by_key), 500):
        known.update(
            session.execute(select(ExpertiseTag.key, ExpertiseTag.id).where(ExpertiseTag.key.in_(chunk))).all()
        )
    new = [ExpertiseTag(key=key, label=label) for key, label in by_key.items() if key not in known]
    session.add_all(new)
    session.flush()
    known.update((tag.key, tag.id) for tag in new)
    return known


def _chunked(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def expertise_of(session: Session, user_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ExpertiseTag.label)
            .join(UserExpertise, UserExpertise.tag_id == ExpertiseTag.id)
            .where(UserExpertise.user_id == user_id)
            .order_by(ExpertiseTag.label)
        )
    )


def known_expertise(session: Session, limit: int = 500) -> list[str]:
    """The site's areas of expertise most members gave, for a form to suggest."""
    return list(
        session.scalars(
            select(ExpertiseTag.label)
            .join(UserExpertise, UserExpertise.tag_id == ExpertiseTag.id)
            .group_by(ExpertiseTag.id, ExpertiseTag.label)
            .order_by(func.count().desc(), ExpertiseTag.label)
            .limit(limit)
        )
    )


# Importing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    email: str
    name: str
    organisation: str
    job_title: str
    region: str
    expertise: tuple[str, ...]


@dataclass(frozen=True)
class PeopleReport:
    updated: int
    unchanged: int


def person_row(
    email: str, name: str = "", organisation: str = "", job_title: str = "", region: str = "", expertise: str = ""
) -> PersonRow:
    """A validated row; InvalidInput naming every problem of it, not only the first."""
    problems: list[str] = []
    values: dict[str, str] = {}
    for field, value, what in (
        ("name", name, "the name"),
        ("organisation", organisation, "the organisation"),
        ("job_title", job_title, "the job title"),
        ("region", region, "the region"),
    ):
        try:
            values[field] = check_text(value, what)
        except InvalidInput as exc:
            problems.append(exc.message)
    address = labels = None
    try:
        address = normalize_email(email)
    except InvalidInput as exc:
        problems.append(exc.message)
    try:
        labels = parse_expertise(expertise)
    except InvalidInput as exc:
        problems.append(exc.message)
    if problems or address is None or labels is None:
        raise InvalidInput("; ".join(problems))
    return PersonRow(email=address, expertise=tuple(labels), **values)


def read_person_csv(session: Session, text: str, source: str) -> list[PersonRow]:
    """Parse and check a whole spreadsheet before anything is written: every bad row is
    named by its line number with all that is wrong with it, an address that is no
    member's among them (profiles are for members: add them to a community first)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise InvalidInput(
            f"{source}: line 1: the header must name an 'email' column (found: {', '.join(header) or 'nothing'})"
        )
    unknown = set(header) - set(CSV_COLUMNS)
    if unknown:
        raise InvalidInput(
            f"{source}: line 1: unknown column(s) {', '.join(sorted(unknown))}; use {','.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    parsed: list[tuple[int, PersonRow]] = []
    errors: dict[int, str] = {}
    for record in reader:
        values = {k: (v or "") for k, v in record.items() if k is not None}
        if not any(v.strip() for v in values.values()):
            continue
        try:
            parsed.append((reader.line_num, person_row(*(values.get(column, "") for column in CSV_COLUMNS))))
        except InvalidInput as exc:
            errors[reader.line_num] = exc.message
    known = _users_by_address(session, [row.email for _line, row in parsed])
    for line, row in parsed:
        if row.email not in known:
            errors[line] = (
                f"{row.email} is not a member of any community: add them with 'member add' or 'member import' first"
            )
    if errors:
        lines = [f"{source}: line {line}: {message}" for line, message in sorted(errors.items())]
        raise InvalidInput("\n".join([*lines, f"{source}: {len(errors)} bad row(s), nothing imported"]))
    return [row for _line, row in parsed]


def _users_by_address(session: Session, emails: list[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in _chunked(emails, 500):
        found.update(session.execute(select(UserEmail.email, User).join(User).where(UserEmail.email.in_(chunk))).all())
    return found


def import_people(session: Session, rows: Iterable[PersonRow]) -> PeopleReport:
    """Write each row's profile; a column left empty leaves what the member has. Running
    the same rows again changes nothing. The members, profiles and areas concerned are read
    in bulk, so a file of thousands costs a handful of queries besides the writes."""
    rows = list(rows)
    users = _users_by_address(session, [row.email for row in rows])
    profiles: dict[int, Profile] = {}
    for chunk in _chunked([user.id for user in users.values()], 500):
        profiles.update((p.user_id, p) for p in session.scalars(select(Profile).where(Profile.user_id.in_(chunk))))
    changed: set[int] = set()
    for row in rows:
        user = users.get(row.email)
        if user is None:  # read_person_csv named it; a concurrent removal lands here
            raise NotFound(f"{row.email} is no longer a member")
        profile = profiles.get(user.id) or profile_of(session, user.id)
        profiles[user.id] = profile
        for field, value in (("organisation", row.organisation), ("job_title", row.job_title), ("region", row.region)):
            if value and getattr(profile, field) != value:
                setattr(profile, field, value)
                changed.add(user.id)
        if row.name and user.display_name != row.name:
            user.display_name = row.name
            changed.add(user.id)
    areas = {users[row.email].id: list(row.expertise) for row in rows if row.expertise}
    changed |= _set_expertise_of(session, areas)
    session.flush()
    return PeopleReport(updated=len(changed), unchanged=len({users[row.email].id for row in rows}) - len(changed))
