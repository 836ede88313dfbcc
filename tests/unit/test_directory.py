"""Importing members from a spreadsheet, as a facilitator would: errors first, then an idempotent upsert."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.directory import RESERVED_NAMES, ImportReport, create_community, member_row, read_member_csv, upsert_members
from forum.errors import InvalidInput
from forum.models import Community, Delivery, Membership, MemberStatus, Role, User, UserEmail
from forum.posting import community_by_slug
from mailgateway.addresses import SITE_ADDRESSES
from tests.support import make_member


def import_csv(sessionmaker: SessionMaker[Session], text: str, slug: str = "housing") -> ImportReport:
    """What ``listbridge member import`` does: validate the whole file, then upsert in one transaction."""
    rows = read_member_csv(text, "members.csv")
    with sessionmaker.begin() as session:
        return upsert_members(session, community_by_slug(session, slug), rows)


def members(sessionmaker: SessionMaker[Session]) -> dict[str, tuple[str, str, str]]:
    """email → (role, delivery, status) of every member of "housing"."""
    with sessionmaker() as session:
        rows = session.execute(
            select(UserEmail.email, Membership.role, Membership.delivery, Membership.status)
            .join(Membership, Membership.user_id == UserEmail.user_id)
            .join(Community)
            .where(Community.slug == "housing")
        )
        return {email: (role.value, delivery.value, status.value) for email, role, delivery, status in rows}


@pytest.fixture(autouse=True)
def housing(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        create_community(session, "housing", "Housing co-op")


def test_every_bad_row_is_reported_by_line_and_nothing_is_written(sessionmaker: SessionMaker[Session]) -> None:
    text = (
        "email,name,role,delivery\n"
        "ann@example.org,Ann,facilitator,each\n"
        "not-an-address,Bob,member,each\n"
        "cem@example.org,Cem,boss,each\n"
        "dee@example.org,Dee,member,hourly\n"
        "eve@example.org,Eve,,\n"
        "nope,Fay,chief,monthly\n"
    )
    with pytest.raises(InvalidInput) as caught:
        import_csv(sessionmaker, text)
    lines = caught.value.message.splitlines()
    assert len(lines) == 5 and lines[-1] == "members.csv: 4 bad row(s), nothing imported"
    assert lines[0].startswith("members.csv: line 3: 'not-an-address'")
    assert lines[1].startswith("members.csv: line 4: role must be one of")
    assert lines[2].startswith("members.csv: line 5: delivery must be one of")
    # One line per bad row, naming every problem of it.
    assert (
        lines[3].startswith("members.csv: line 7: 'nope'") and "role must" in lines[3] and "delivery must" in lines[3]
    )
    assert not any("line 2" in line or "line 6" in line for line in lines)
    with sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_missing_email_column_is_reported_on_line_1(sessionmaker: SessionMaker[Session]) -> None:
    with pytest.raises(InvalidInput, match="line 1: the header must name an 'email' column"):
        import_csv(sessionmaker, "mail,name\nann@example.org,Ann\n")


def test_reimporting_the_same_file_changes_nothing(sessionmaker: SessionMaker[Session]) -> None:
    text = "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"
    assert import_csv(sessionmaker, text) == ImportReport(added=2, updated=0, unchanged=0)
    assert import_csv(sessionmaker, text) == ImportReport(added=0, updated=0, unchanged=2)
    assert len(members(sessionmaker)) == 2


def test_changed_role_and_delivery_are_updated(sessionmaker: SessionMaker[Session]) -> None:
    import_csv(sessionmaker, "email,role,delivery\nann@example.org,member,each\nbob@example.org,member,each\n")
    report = import_csv(
        sessionmaker, "email,role,delivery\nann@example.org,facilitator,each\nbob@example.org,member,daily\n"
    )
    assert report == ImportReport(added=0, updated=2, unchanged=0)
    assert members(sessionmaker) == {
        "ann@example.org": ("facilitator", "each", "active"),
        "bob@example.org": ("member", "daily", "active"),
    }


def test_bom_blank_lines_case_and_spaces_are_tolerated(sessionmaker: SessionMaker[Session]) -> None:
    text = "\ufeffEmail , Name\r\n\r\n Ann@Example.ORG ,Ann\r\n,\r\nbob@example.org,Bob\r\n\r\n"
    assert import_csv(sessionmaker, text).added == 2
    assert set(members(sessionmaker)) == {"ann@example.org", "bob@example.org"}


def test_existing_person_joins_without_a_second_account(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        make_member(session, create_community(session, "garden", "Garden"), "ann@example.org")
    assert import_csv(sessionmaker, "email\nann@example.org\n").added == 1
    with sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_reimport_does_not_lift_a_ban(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        make_member(
            session,
            community_by_slug(session, "housing"),
            "troll@example.net",
            role=Role.member,
            delivery=Delivery.each,
            status=MemberStatus.banned,
        )
    import_csv(sessionmaker, "email,role\ntroll@example.net,facilitator\n")
    assert members(sessionmaker)["troll@example.net"] == ("member", "each", "banned")


def test_a_status_column_carries_bans_and_requests_as_listed(sessionmaker: SessionMaker[Session]) -> None:
    """What ``member list --format csv`` writes (a status column) imports as it was."""
    import_csv(
        sessionmaker,
        "email,status\nann@example.org,active\ntroll@example.net,banned\nnew@example.org,pending\nbob@example.org,\n",
    )
    assert {email: status for email, (_, _, status) in members(sessionmaker).items()} == {
        "ann@example.org": "active",
        "troll@example.net": "banned",
        "new@example.org": "pending",
        "bob@example.org": "active",
    }
    import_csv(sessionmaker, "email,status\ntroll@example.net,active\n")
    assert members(sessionmaker)["troll@example.net"][2] == "banned", "a file never lifts a ban"


def test_ten_thousand_rows_import_in_one_call(
    sessionmaker: SessionMaker[Session], record_measurement: Callable[[str], None]
) -> None:
    lines = ["email,name,role,delivery"] + [
        f"member{i:05d}@example.org,Member {i},{'moderator' if i % 1000 == 0 else 'member'},"
        f"{'daily' if i % 3 == 0 else 'each'}"
        for i in range(10_000)
    ]
    started = time.perf_counter()
    report = import_csv(sessionmaker, "\n".join(lines) + "\n")
    record_measurement(f"member import: 10,000 CSV rows in {time.perf_counter() - started:.2f}s")
    assert report == ImportReport(added=10_000, updated=0, unchanged=0)
    imported = members(sessionmaker)
    assert len(imported) == 10_000
    assert imported["member00000@example.org"] == ("moderator", "daily", "active")
    assert imported["member09998@example.org"] == ("member", "each", "active")
    assert sum(1 for role, _, _ in imported.values() if role == "moderator") == 10


def test_the_sites_own_names_are_no_communities_and_an_import_keeps_a_shown_address(
    sessionmaker: SessionMaker[Session],
) -> None:
    assert set(SITE_ADDRESSES) <= RESERVED_NAMES, "every address the gateway keeps for the site is reserved"
    with sessionmaker.begin() as session:
        for name in ("Noreply", "postmaster", "mailer-daemon", "listbridge"):
            with pytest.raises(InvalidInput, match=f"{name.lower()}@ is reserved for the site itself"):
                create_community(session, name, "Mine")
        housing = community_by_slug(session, "housing")
        upsert_members(session, housing, [member_row("ann@example.org", show_address=True)])
    import_csv(sessionmaker, "email,role\nann@example.org,moderator\n")
    with sessionmaker() as session:
        assert (
            session.scalar(
                select(Membership.show_address)
                .join(UserEmail, UserEmail.user_id == Membership.user_id)
                .where(UserEmail.email == "ann@example.org")
            )
            is True
        ), "a spreadsheet says nothing of it"


def test_a_plain_text_column_sets_and_keeps_the_mail_format(sessionmaker: SessionMaker[Session]) -> None:
    def plain() -> dict[str, bool]:
        with sessionmaker() as session:
            rows = session.execute(select(UserEmail.email, User.plain_text).join(User))
            return {str(row[0]): bool(row[1]) for row in rows}

    import_csv(sessionmaker, "email,plain_text\nann@example.org,yes\nbob@example.org,\ncem@example.org,No\n")
    assert plain() == {"ann@example.org": True, "bob@example.org": False, "cem@example.org": False}
    import_csv(sessionmaker, "email,plain_text\nann@example.org,\nbob@example.org,yes\n")
    assert plain()["ann@example.org"] is True, "an empty cell leaves the member's choice"
    assert plain()["bob@example.org"] is True
    with pytest.raises(InvalidInput, match="line 2: plain_text must be yes or no, not 'maybe'"):
        import_csv(sessionmaker, "email,plain_text\ndee@example.org,maybe\n")
