"""The facilitators' member list, read from the database as the page and the export read it."""

from __future__ import annotations

from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.models import Role
from forum.roster import RosterFilter, roster_counts, roster_lines, roster_page
from tests.support import make_community, make_member


def test_the_export_reads_every_match_in_batches_and_the_page_counts_them(sessionmaker: SessionMaker[Session]) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        for n in range(7):
            make_member(session, housing, f"p{n}@example.org", role=Role.moderator if n == 3 else Role.member)
        make_member(session, make_community(session, "garden"), "other@example.org")
    with sessionmaker() as session:
        lines = list(roster_lines(session, housing, RosterFilter(), batch=2))
        assert [line.email for line in lines] == [f"p{n}@example.org" for n in range(7)]
        page = roster_page(session, housing, RosterFilter(role=Role.member), page=2, per_page=4)
        assert (page.total, page.pages, page.first, page.last) == (6, 2, 5, 6)
        beyond = roster_page(session, housing, RosterFilter(), page=9, per_page=4)
        assert (beyond.lines, beyond.total) == ([], 7)
        counts = roster_counts(session, housing)
        assert (counts.members, counts.moderators, counts.facilitators) == (7, 1, 0)
