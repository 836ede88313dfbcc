"""Search: one function, the same answers on SQLite (FTS5) and PostgreSQL (tsvector).

Ranking, filters, safe highlights, queries that would be syntax errors if passed through,
and above all privacy: a private or unpublished post is never found, nor counted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import moderation
from forum import search as search_module
from forum.access import can_read, readable_by
from forum.models import Community, Membership, MemberStatus, Post, Role
from forum.posting import Draft, submit_post
from forum.search import START, STOP, ParsedQuery, SearchPage, _marked, parse_query, search
from forum.site import Site
from tests.support import make_community, make_member

ANN, BOB, CEM, DAN = "ann@example.org", "bob@example.org", "cem@example.org", "dan@example.org"


@pytest.fixture
def people(sessionmaker: SessionMaker[Session]) -> dict[str, int]:
    """housing (public): Ann, Bob; board (private): Ann active, Dan pending; Cem in neither."""
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        board = make_community(session, "board", private=True)
        garden = make_community(session, "garden", policy="moderated")
        ann = make_member(session, housing, ANN, role=Role.facilitator).user_id
        make_member(session, board, ANN)
        make_member(session, garden, ANN, role=Role.facilitator)
        bob = make_member(session, housing, BOB).user_id
        make_member(session, garden, BOB)
        cem = make_member(session, garden, CEM).user_id  # garden is public: Cem reads what all read
        dan = make_member(session, board, DAN, status=MemberStatus.pending).user_id
    return {"ann": ann, "bob": bob, "cem": cem, "dan": dan}


@pytest.fixture
def post(sessionmaker: SessionMaker[Session], site: Site) -> Callable[..., int]:
    def make(
        subject: str,
        body: str,
        *,
        author: str = ANN,
        community: str = "housing",
        name: str = "",
        created: datetime | None = None,
    ) -> int:
        with sessionmaker.begin() as session:
            # A name given is kept as an archive import keeps it (else a member shows their profile's).
            draft = Draft(
                community=community,
                author_email=author,
                author_name=name,
                subject=subject,
                body=body,
                created_at=created,
                trusted=bool(name),
            )
            return submit_post(session, draft, site).post.id

    return make


def find(sessionmaker: SessionMaker[Session], query: str, viewer: int | None = None, **filters: Any) -> SearchPage:
    with sessionmaker() as session:
        return search(session, viewer, query, **filters)


def ids(page: SearchPage) -> list[int]:
    return [hit.post_id for hit in page.hits]


class TestQueries:
    @pytest.mark.parametrize(
        ("text", "phrases", "excluded"),
        [
            ("boiler repair", ("boiler", "repair"), ()),
            ('"boiler repair" cost', ("boiler repair", "cost"), ()),
            ("boiler -gas", ("boiler",), ("gas",)),
            ('boiler -"gas safe"', ("boiler",), ("gas safe",)),
            ("co-op", ("co op",), ()),
            ("AND( OR ) * - NEAR(a b) col:x ^start", ("AND", "OR", "NEAR a", "b", "col x", "start"), ()),
            ('"unclosed phrase', ("unclosed phrase",), ()),
            ("boiler boiler", ("boiler",), ()),
            ("   ", (), ()),
            ("-gas", (), ("gas",)),
        ],
    )
    def test_parse(self, text: str, phrases: tuple[str, ...], excluded: tuple[str, ...]) -> None:
        assert parse_query(text) == ParsedQuery(phrases, excluded)

    def test_rendered_for_each_engine_from_quoted_words_only(self) -> None:
        parsed = parse_query('boiler "gas safe" -oil')
        assert parsed.fts5() == '{subject body} : ("boiler" "gas safe" NOT "oil")'
        assert parsed.fts5(7) == '{subject body} : ("boiler" "gas safe" NOT "oil") AND community_id : "7"'
        assert parsed.websearch() == '"boiler" "gas safe" -"oil"'

    def test_exclusions_alone_search_for_nothing(self) -> None:
        assert parse_query("-gas").empty

    def test_marks_are_escaped_and_balanced(self) -> None:
        assert _marked(f"<b>{START}boiler{STOP}</b> & co") == "&lt;b&gt;<mark>boiler</mark>&lt;/b&gt; &amp; co"
        assert _marked(f"{STOP}a {START}b {START}c") == "a <mark>b c</mark>"


class TestVisibilityRule:
    def test_sql_form_agrees_with_can_read(self, sessionmaker: SessionMaker[Session], people: dict[str, int]) -> None:
        with sessionmaker() as session:
            communities = session.scalars(select(Community)).all()
            for viewer in [None, *people.values()]:
                expected = {
                    c.slug
                    for c in communities
                    if can_read(
                        c,
                        session.scalar(
                            select(Membership).where(Membership.user_id == viewer, Membership.community_id == c.id)
                        ),
                    )
                }
                readable = set(session.scalars(select(Community.slug).where(readable_by(viewer))))
                assert readable == expected, viewer


@pytest.mark.usefixtures("people")
class TestSearch:
    def test_subject_match_ranks_above_a_single_body_mention(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        in_body = post("Heating advice", "We asked about the boiler and much else besides, at length.")
        in_subject = post("Boiler servicing", "Who services them round here?")
        assert ids(find(sessionmaker, "boiler")) == [in_subject, in_body]

    def test_stemming_finds_other_forms(self, sessionmaker: SessionMaker[Session], post: Callable[..., int]) -> None:
        repairs = post("Repairs", "The landlord repaired the roof.")
        assert ids(find(sessionmaker, "repair")) == [repairs]

    def test_every_word_must_match_and_excluded_words_must_not(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        gas = post("Boiler", "A gas boiler.")
        oil = post("Boiler", "An oil boiler.")
        assert ids(find(sessionmaker, "boiler oil")) == [oil]
        assert ids(find(sessionmaker, "boiler -oil")) == [gas]
        assert ids(find(sessionmaker, '"oil boiler"')) == [oil]
        assert ids(find(sessionmaker, '"boiler oil"')) == []

    def test_snippets_mark_matches_and_escape_the_post(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        post("<img src=x onerror=alert(1)> Boiler", f"Costs < £500 & rising <script>alert(1)</script> {START}boiler")
        hit = find(sessionmaker, "boiler").hits[0]
        assert hit.subject_html == "&lt;img src=x onerror=alert(1)&gt; <mark>Boiler</mark>"
        assert "&lt; £500 &amp; rising" in hit.snippet_html and hit.snippet_html.endswith("<mark>boiler</mark>")
        assert "<script" not in hit.snippet_html and "<img" not in hit.snippet_html

    def test_hits_name_authors_without_addresses(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        post("Boiler", "Boiler again.", author=BOB)  # Bob's display name is "Bob"
        post("Boiler", "Boiler again.", name="ann@example.org")
        assert sorted(h.author for h in find(sessionmaker, "boiler").hits) == ["Bob", "ann"]

    @pytest.mark.parametrize(
        "query",
        [
            '"',
            "*",
            "AND(",
            "-",
            'boiler"',
            "NEAR(",
            "OR",
            ")",
            "col:x",
            "^",
            "boiler AND",
            "'",
            "\\",
            "%",
            "_",
            "NOT boiler",
            "\x00",
            "ü*",
        ],
    )
    def test_no_query_is_a_syntax_error(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int], query: str
    ) -> None:
        post("Boiler", "Boiler AND more.")
        page = find(sessionmaker, query)
        assert isinstance(page, SearchPage)

    def test_empty_query_finds_nothing(self, sessionmaker: SessionMaker[Session], post: Callable[..., int]) -> None:
        post("Boiler", "Boiler.")
        assert find(sessionmaker, "").total == 0 and find(sessionmaker, "  -boiler ").hits == ()

    def test_filter_by_community(self, sessionmaker: SessionMaker[Session], post: Callable[..., int]) -> None:
        housing = post("Compost", "Compost heaps.")
        garden = post("Compost", "Compost bins.", community="garden")
        assert ids(find(sessionmaker, "compost", community="garden")) == [garden]
        assert ids(find(sessionmaker, "compost", community="HOUSING")) == [housing]
        assert ids(find(sessionmaker, "compost", community="nowhere")) == []

    def test_filter_by_author_name(self, sessionmaker: SessionMaker[Session], post: Callable[..., int]) -> None:
        by_bob = post("Compost", "Compost heaps.", author=BOB, name="Bob Bloggs")
        post("Compost", "Compost bins.", name="Ann Other")
        assert ids(find(sessionmaker, "compost", author="bloggs")) == [by_bob]
        assert ids(find(sessionmaker, "compost", author="100%")) == []

    def test_an_address_filters_by_its_local_part_only(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        """Names are shown without domains, so a domain must not be searchable either."""
        by_ann = post("Compost", "Compost heaps.", name="ann@example.org")
        assert ids(find(sessionmaker, "compost", author="ann@elsewhere.net")) == [by_ann]

    def test_filter_by_dates_inclusive(self, sessionmaker: SessionMaker[Session], post: Callable[..., int]) -> None:
        def on(day: int) -> datetime:
            return datetime(2024, 3, day, 23, 30, tzinfo=UTC)

        first, second, third = (post("Compost", f"Compost {n}.", created=on(n)) for n in (1, 2, 3))
        assert ids(find(sessionmaker, "compost", since=date(2024, 3, 2))) == [third, second]
        assert ids(find(sessionmaker, "compost", until=date(2024, 3, 2))) == [second, first]
        assert ids(find(sessionmaker, "compost", since=date(2024, 3, 2), until=date(2024, 3, 2))) == [second]

    def test_pages_and_total(self, sessionmaker: SessionMaker[Session], post: Callable[..., int]) -> None:
        made = [post("Compost", f"Compost note {n}.") for n in range(5)]
        first = find(sessionmaker, "compost", limit=2)
        last = find(sessionmaker, "compost", limit=2, offset=4)
        assert first.total == 5 and first.has_more and len(first.hits) == 2
        assert last.total == 5 and not last.has_more and len(last.hits) == 1
        seen = [*ids(first), *ids(find(sessionmaker, "compost", limit=2, offset=2)), *ids(last)]
        assert sorted(seen) == sorted(made)

    def test_only_the_newest_matches_are_ranked(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bound on the work a common word costs; filters apply before the cut."""
        monkeypatch.setattr(search_module, "CANDIDATES", 3)
        oldest, *newer = [
            post("Compost", f"Compost {n}.", community="garden" if n == 0 else "housing") for n in range(5)
        ]
        page = find(sessionmaker, "compost")
        assert page.capped and page.total == 3 and sorted(ids(page)) == newer[-3:]
        assert ids(find(sessionmaker, "compost", community="garden")) == [oldest]

    def test_a_word_in_too_many_posts_leaves_the_ranking_to_the_rarer(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """bm25 would read every post holding the common word; the rare word ranks alone."""
        monkeypatch.setattr(search_module, "RANKED_WORD_POSTS", 2)
        in_subject = post("Radiator notice", "A notice about the works.")
        in_body = post("Works notice", "The radiator in the notice is ours.")
        post("Another notice", "Nothing else in this notice.")
        assert ids(find(sessionmaker, "notice radiator")) == [in_subject, in_body]

    def test_when_every_word_is_that_common_the_newest_come_first(
        self,
        engine: Engine,
        sessionmaker: SessionMaker[Session],
        post: Callable[..., int],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if engine.dialect.name != "sqlite":
            pytest.skip("SQLite's ranking: bm25 needs every post holding a word to weigh it")
        monkeypatch.setattr(search_module, "RANKED_WORD_POSTS", 1)
        older = post("Boiler servicing", "Who services them?")
        newer = post("Heating", "We asked about the boiler.")
        assert ids(find(sessionmaker, "boiler")) == [newer, older]

    def test_how_common_a_word_is_is_counted_once_in_a_while(
        self,
        engine: Engine,
        sessionmaker: SessionMaker[Session],
        post: Callable[..., int],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Telling whether a word is common reads up to that many of its matches: a common
        word is counted once, a rarer one again only after a while (it may have become
        common since)."""
        if engine.dialect.name != "sqlite":
            pytest.skip("SQLite's ranking: PostgreSQL does not count a word's posts")
        monkeypatch.setattr(search_module, "RANKED_WORD_POSTS", 1)
        posts = [post("Boiler", "Boiler one."), post("Boiler", "Another boiler radiator.")]
        statements: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
            statements.append(statement)

        def statements_for(query: str, found: list[int]) -> int:
            before = len(statements)
            assert ids(find(sessionmaker, query)) == found
            return len(statements) - before

        event.listen(engine, "before_cursor_execute", record)
        try:
            # Counted in each table: English posts', and Welsh posts' (where there are none).
            common = statements_for("boiler", posts[::-1])
            assert statements_for("boiler", posts[::-1]) == common - 2
            rare = statements_for("radiator", posts[1:])
            assert statements_for("radiator", posts[1:]) == rare - 2
            later = time.monotonic() + search_module.RARE_REMEMBERED_SECONDS
            monkeypatch.setattr(search_module, "monotonic", lambda: later)
            assert statements_for("radiator", posts[1:]) == rare, "a rare word is counted again after a while"
            assert statements_for("boiler", posts[::-1]) == common - 1, "a common word never is (but in Welsh posts)"
        finally:
            event.remove(engine, "before_cursor_execute", record)

    def test_postgresql_plans_each_search_for_its_own_words(
        self, engine: Engine, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        """A generic plan, made once for any window and any words, took up to 1.8 s for the
        searches a plan made for their own parameters answers in 60 ms; other statements
        keep their plans."""
        if engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's plan cache")
        boiler = post("Boiler", "Who services them?")
        modes: list[str] = []

        def record(conn: Connection, _cursor: object, statement: str, *_rest: object) -> None:
            if re.search(r"\bpost_search\b", statement):  # a search's own statement: ask how it is planned
                modes.append(conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one())

        event.listen(engine, "before_cursor_execute", record)
        try:
            with sessionmaker() as session:
                assert ids(search(session, None, "boiler")) == [boiler]
                assert session.connection().exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert modes and set(modes) == {"force_custom_plan"}

    def test_a_community_is_searched_inside_the_index_with_privacy_intact(
        self,
        sessionmaker: SessionMaker[Session],
        people: dict[str, int],
        post: Callable[..., int],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """SQLite narrows by community in FTS5 itself (the index's community column), for
        words common across the site; the answer, privacy included, is the one a scan gives."""
        monkeypatch.setattr(search_module, "RANKED_WORD_POSTS", 0)
        monkeypatch.setattr(search_module, "CANDIDATES", 2)
        garden = [post("Compost", f"Compost {n}.", community="garden") for n in range(3)]
        post("Compost", "Compost here.", community="housing")
        post("Compost", "Compost in secret.", community="board")
        page = find(sessionmaker, "compost", community="garden")
        assert page.capped and sorted(ids(page)) == garden[-2:]
        assert ids(find(sessionmaker, "compost", community="board")) == []
        assert len(ids(find(sessionmaker, "compost", people["ann"], community="board"))) == 1

    def test_a_number_typed_does_not_match_a_community(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        """The index holds each post's community id; only subjects and bodies are searched."""
        post("Compost", "Compost heaps.", community="garden")
        with sessionmaker() as session:
            garden = session.scalar(select(Community.id).where(Community.slug == "garden"))
        assert find(sessionmaker, str(garden)).total == 0
        numbered = post("Flat 12", f"Flat {garden} is free.")
        assert ids(find(sessionmaker, str(garden))) == [numbered]

    def test_old_matches_are_found_when_new_ones_are_few(
        self,
        sessionmaker: SessionMaker[Session],
        people: dict[str, int],
        post: Callable[..., int],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """PostgreSQL reads the newest matches in windows of ids: a window with few matches
        (or none) sizes a larger one, down to the oldest post; the cut and privacy hold."""
        monkeypatch.setattr(search_module, "FIRST_WINDOW", 2)
        monkeypatch.setattr(search_module, "CANDIDATES", 3)
        oldest = [post("Compost", f"Compost {n}.") for n in range(2)]
        post("Compost", "Compost in secret.", community="board")
        for n in range(6):
            post("Other", f"Nothing to see {n}.")
        newer = post("Compost", "Compost again.")
        post("Other", "Nothing at all.")
        page = find(sessionmaker, "compost")
        assert page.total == 3 and sorted(ids(page)) == [*oldest, newer]
        assert find(sessionmaker, "compost", people["ann"]).total == 3  # the newest three she may read
        assert find(sessionmaker, "secret", people["ann"]).total == 1
        assert find(sessionmaker, "secret").total == 0

    def test_index_follows_edits_and_deletions(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        edited = post("Compost", "Compost heaps.")
        gone = post("Compost", "Compost bins.")
        with sessionmaker.begin() as session:
            session.execute(update(Post).where(Post.id == edited).values(body="Wormeries instead."))
            session.delete(session.get(Post, gone))
        assert ids(find(sessionmaker, "wormeries")) == [edited]
        assert ids(find(sessionmaker, "heaps")) == [] and ids(find(sessionmaker, "bins")) == []


@pytest.mark.usefixtures("people")
class TestWelsh:
    """Welsh posts are indexed as written, not stemmed as English; accents fold both ways."""

    WATER = ("Dŵr yn y tŷ", "Mae dŵr yn dod drwy'r to ac mae'r tŷ yn llaith iawn ers mis Tachwedd.")

    def test_a_welsh_post_is_found_by_folded_and_unfolded_words(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        water = post(*self.WATER)
        plain = post("Dwr", "Roedd y dwr yn oer iawn yn y gegin heddiw, meddai'r tenant wrth y swyddog.")
        with sessionmaker() as session:
            assert session.scalars(select(Post.language).where(Post.id.in_([water, plain]))).all() == ["cy", "cy"]
        assert ids(find(sessionmaker, "dwr")) == [plain, water]
        assert ids(find(sessionmaker, "dŵr")) == [plain, water]
        assert ids(find(sessionmaker, "ty")) == ids(find(sessionmaker, "tŷ")) == [water]
        assert ids(find(sessionmaker, '"dwr yn dod"')) == [water]

    def test_the_welsh_word_is_marked_as_written(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        post(*self.WATER)
        hit = find(sessionmaker, "dwr").hits[0]
        assert hit.subject_html == "<mark>Dŵr</mark> yn y tŷ"
        assert "<mark>dŵr</mark> yn dod" in hit.snippet_html

    def test_welsh_words_are_not_stemmed_as_english(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        """English stemming would make "merches" (a woman) of "merch" (a girl)."""
        woman = post("Y tenant", "Mae'r ferch hynaf a'r merches o'r fflat drws nesaf wedi cwyno am y lleithder.")
        girl = post("Ysgol", "Mae merch y tenant yn mynd i'r ysgol gynradd bob bore gyda'i brawd bach.")
        assert ids(find(sessionmaker, "merches")) == [woman]
        assert ids(find(sessionmaker, "merch")) == [girl]

    def test_english_posts_are_still_stemmed_and_folded(
        self, sessionmaker: SessionMaker[Session], post: Callable[..., int]
    ) -> None:
        tax = post("Council tax", "Council tax rates went up again this year for every band.")
        cafe = post("Café", "We met at the café near the station to talk about repairs.")
        post(*self.WATER)
        with sessionmaker() as session:
            assert session.scalars(select(Post.language).where(Post.id.in_([tax, cafe]))).all() == ["en", "en"]
        assert ids(find(sessionmaker, "rate")) == [tax]
        assert ids(find(sessionmaker, "tax -rates")) == []
        assert ids(find(sessionmaker, "cafe repair")) == ids(find(sessionmaker, "café")) == [cafe]


@pytest.mark.usefixtures("people")
class TestPrivacy:
    @pytest.fixture
    def secret(self, post: Callable[..., int]) -> int:
        post("Budget", "The public budget.")
        return post("Budget", "The confidential budget.", community="board")

    def test_private_posts_are_not_found_by_outsiders(
        self, sessionmaker: SessionMaker[Session], people: dict[str, int], secret: int
    ) -> None:
        for viewer in (None, people["bob"], people["cem"], people["dan"]):  # Dan's membership is pending
            page = find(sessionmaker, "confidential", viewer)
            assert page.hits == () and page.total == 0
            assert find(sessionmaker, "budget", viewer).total == 1  # nor counted
            assert find(sessionmaker, "budget", viewer, community="board").total == 0

    def test_members_find_them(self, sessionmaker: SessionMaker[Session], people: dict[str, int], secret: int) -> None:
        assert ids(find(sessionmaker, "confidential", people["ann"])) == [secret]
        assert find(sessionmaker, "budget", people["ann"]).total == 2

    def test_banned_members_do_not(
        self, sessionmaker: SessionMaker[Session], people: dict[str, int], secret: int
    ) -> None:
        with sessionmaker.begin() as session:
            session.execute(
                update(Membership).where(Membership.user_id == people["ann"]).values(status=MemberStatus.banned)
            )
        assert find(sessionmaker, "confidential", people["ann"]).total == 0

    def test_held_and_rejected_posts_are_never_found(
        self, sessionmaker: SessionMaker[Session], site: Site, people: dict[str, int], post: Callable[..., int]
    ) -> None:
        held = post("Seedlings", "Seedlings to swap.", author=BOB, community="garden")
        rejected = post("Seedlings", "Seedlings for sale.", author=CEM, community="garden")
        with sessionmaker.begin() as session:
            assert session.get(Post, held).status.value == "held"  # garden is moderated
            moderation.reject(session, rejected, "no selling")
        for viewer in (None, people["ann"], people["bob"]):
            assert find(sessionmaker, "seedlings", viewer).total == 0
        with sessionmaker.begin() as session:
            moderation.approve(session, site, held)
        assert ids(find(sessionmaker, "seedlings")) == [held]


def _distinct_words(count: int, start: int = 0) -> list[str]:
    """``count`` different words of letters ("xaaaaa", "xbaaaa"…), none an English word."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["x" + "".join(letters[n // 26**i % 26] for i in range(5)) for n in range(start, start + count)]


class TestLongPosts:
    """The index reads a post's body up to 110,000 characters, or its first 100,000 and last
    10,000 (migration 0016): a post of megabytes is stored and indexed quickly (PostgreSQL
    refused one of a few megabytes of distinct words, its vector being over 1 MB)."""

    def test_a_post_of_megabytes_of_distinct_words_is_stored_and_found(
        self, sessionmaker: SessionMaker[Session], people: dict[str, int], post: Callable[..., int]
    ) -> None:
        body = " ".join(
            ("radiator", *_distinct_words(300_000), "thermostat", *_distinct_words(300_000, start=300_000), "valve")
        )
        assert len(body) > 4_000_000
        started = time.monotonic()
        heating = post("Heating", body)
        found = {word: find(sessionmaker, word) for word in ("radiator", "valve", "thermostat")}
        assert time.monotonic() - started < 30
        assert ids(found["radiator"]) == [heating]
        assert "<mark>radiator</mark>" in found["radiator"].hits[0].snippet_html
        assert ids(found["valve"]) == [heating]  # its last words: a reply below a long quote
        assert ids(found["thermostat"]) == []  # in the middle, past what is indexed

    def test_a_long_post_within_the_bound_is_indexed_whole(
        self, sessionmaker: SessionMaker[Session], people: dict[str, int], post: Callable[..., int]
    ) -> None:
        body = " ".join((*_distinct_words(7_500), "thermostat", *_distinct_words(7_500, start=7_500)))
        assert 100_000 < len(body) <= 110_000
        heating = post("Heating", body)
        assert ids(find(sessionmaker, "thermostat")) == [heating]
