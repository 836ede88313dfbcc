"""Full-text search over posts: one function for every channel that searches.

Each database searches with its own engine, behind :func:`search`:

* SQLite: the FTS5 table ``posts_fts`` (migrations 0002 and 0008), ranked by bm25 with the
  subject weighing ten times the body; ``highlight()`` and ``snippet()`` mark the matches.
  It also indexes each post's community, so a search within a community reads only that
  community's matches. Welsh posts are in ``posts_fts_cy`` (migration 0018), searched
  alike: the newest matches of both tables are ranked together.
* PostgreSQL: the table ``post_search`` (migration 0008): each post's ``tsvector``
  (subject weight A, body B), community and status, kept by triggers, with a GIN index;
  ``websearch_to_tsquery``, ``ts_rank_cd`` and ``ts_headline``. The newest matches are
  read in windows of posts, newest first (:meth:`_PostgresFullText.ranked_matches`). Each
  post is matched, ranked and highlighted in its language's configuration (migration 0018).

Either way Welsh posts' words are indexed as written, English (and unknown) posts' words
stemmed as English, and accents are folded in both ("dwr" finds "dŵr", "dŵr" finds "dwr").

Either way what is indexed, and highlighted, of a post's body is bounded (its first 100,000
and last 10,000 characters when longer: ``forum.models.SEARCH_TEXT``, migration 0016), so
that one huge post costs no more to index or to show than a long one.

Either way the work a search does is bounded, however large the archive: only the newest
CANDIDATES matches the searcher may read are ranked (as many as the results pages can
show), and on SQLite a word found in more than RANKED_WORD_POSTS posts is left out of
the ranking, because bm25 reads every post containing each word it ranks by (to weigh
rare words above common ones), whatever the cap: a cost that grows with the archive
(bench/README.md, "Web archive at 1,000,000 posts"). Such a word says little about which post is the better match (in a million posts
bm25 weighs a word in 50,000 about a quarter as much as one in a few dozen, and a word in
half of them not at all); the rarer words of the query rank the results, and when every word is
that common the newest come first.

The searcher's text never reaches either query language as typed: :func:`parse_query`
reads words, "quoted phrases" and -exclusions out of it, and each engine is given a query
rendered from that, made only of quoted words. No input can cause a syntax error, and both
engines understand a query the same way.

Privacy is decided in SQL, before ranking, counting and paging: only published posts, only
in communities the searcher may read (:func:`forum.access.readable_by`), so neither a hit
nor the number of hits can reveal a private post. A community searched narrows the
full-text query too, but only as well as the SQL condition does.

Highlights: the engines mark matches with two private-use characters; the fragment is
escaped as a whole and only those markers become ``<mark>``, so a post's own text can never
add markup to a results page.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property
from time import monotonic
from typing import Any, Protocol, TypeVarTuple

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Row,
    Select,
    TableClause,
    and_,
    case,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from forum.access import readable_by
from forum.archive import public_name
from forum.models import (
    ENGLISH_SEARCH,
    SEARCH_CONFIG,
    SEARCH_TEXT,
    WELSH_SEARCH,
    Community,
    Post,
    PostSearch,
    PostStatus,
)
from forum.schema import SQLITE_SEARCH_TABLE, SQLITE_WELSH_SEARCH_TABLE

_Ts = TypeVarTuple("_Ts")

START, STOP = "\ue000", "\ue001"  # match markers: private-use characters
MAX_QUERY_CHARS = 500
MAX_TERMS = 12  # more words than this add nothing but cost
MAX_LIMIT = 100
# Ranking every match of a common word costs time in proportion to the archive; only the
# newest CANDIDATES matches the searcher may read are ranked, so a search costs about the
# same at a million posts as at ten thousand. Filters narrow before the cut. As many as
# the results pages can show (50 pages of 20: web.archive.views).
CANDIDATES = 1000
# SQLite: a word (or phrase) in more posts than this is not ranked by (see above).
RANKED_WORD_POSTS = 50_000
# SQLite: whether a word is that common is remembered per process, for (database, table,
# threshold, phrase): a common word for good, as it stays common while posts are added; a
# rarer one for RARE_REMEMBERED_SECONDS, the longest it may go on being ranked by once it
# has become common (which costs time, not correctness).
REMEMBERED_WORDS = 10_000
RARE_REMEMBERED_SECONDS = 600.0
_COMMONNESS: dict[tuple[str, str, int, str], tuple[bool, float]] = {}  # -> (rare, known until)
# PostgreSQL: the newest matches are read in windows of posts (_PostgresFullText): the
# first of this many posts, each next one sized for the matches still wanted with this
# margin, and read through the GIN index when fewer than WALK_DENSITY of the posts of the
# window before matched (testing each post then costs more than the index).
FIRST_WINDOW = 2 * CANDIDATES
WINDOW_MARGIN = 1.5
WALK_DENSITY = 0.05
SUBJECT_WEIGHT = 10.0  # SQLite's bm25 column weight; PostgreSQL weighs A (subject) 1.0 vs B (body) 0.4
SNIPPET_TOKENS = 24

# SQLite: the columns of the FTS5 table (migration 0008) and bm25's weight for each.
_FTS_TEXT = ("subject", "body")
_FTS_COMMUNITY = "community_id"
_FTS_WEIGHTS = (SUBJECT_WEIGHT, 1.0, 0.0)
_TERM = re.compile(r'(?P<neg>-?)(?:"(?P<phrase>[^"]*)"?|(?P<word>\S+))')
_WORD = re.compile(r"\w+")
_MARKERS = re.compile(f"([{START}{STOP}])")


@dataclass(frozen=True)
class ParsedQuery:
    """What to look for: phrases that must all occur and phrases that must not.

    A phrase is one or more words (``\\w+``) separated by single spaces, so it can be
    quoted for either engine without escaping anything.
    """

    phrases: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.phrases  # exclusions alone would match nearly everything

    def fts5(self, community_id: int | None = None) -> str:
        """SQLite FTS5 syntax: ``{subject body} : ("a b" "c" NOT "d")`` (NOT binds tighter
        than the implicit AND), in the text columns only, and with ``AND community_id :
        "7"`` to match only the posts of community 7 (the index's third column)."""
        words = " ".join(f'"{p}"' for p in self.phrases) + "".join(f' NOT "{p}"' for p in self.excluded)
        within = f' AND {_FTS_COMMUNITY} : "{community_id}"' if community_id is not None else ""
        return f"{{{' '.join(_FTS_TEXT)}}} : ({words}){within}"

    def websearch(self) -> str:
        """PostgreSQL ``websearch_to_tsquery`` syntax: ``"a b" "c" -"d"``."""
        return " ".join([f'"{p}"' for p in self.phrases] + [f'-"{p}"' for p in self.excluded])


def parse_query(text: str) -> ParsedQuery:
    """Words, "quoted phrases" and -exclusions; every other character only separates words.

    ``co-op`` is the phrase "co op", ``AND(`` the word "AND", a lone ``*`` or ``-`` nothing.
    """
    phrases: list[str] = []
    excluded: list[str] = []
    for match in _TERM.finditer(text[:MAX_QUERY_CHARS]):
        words = _WORD.findall(match["phrase"] if match["phrase"] is not None else match["word"])
        if words:
            target = excluded if match["neg"] else phrases
            phrase = " ".join(words)
            if phrase not in target:
                target.append(phrase)
    return ParsedQuery(tuple(phrases[:MAX_TERMS]), tuple(excluded[:MAX_TERMS]))


@dataclass(frozen=True)
class SearchHit:
    post_id: int
    thread_id: int
    community_slug: str
    community_name: str
    author: str  # a name, never an address (forum.archive.public_name)
    created_at: datetime
    subject_html: str  # escaped text with <mark> around matches
    snippet_html: str  # likewise, a fragment of the body
    language: str = ""  # the post's: "cy", "en" or "" (forum.post_language)


@dataclass(frozen=True)
class SearchPage:
    hits: tuple[SearchHit, ...]
    total: int  # matches ranked: all of them, or CANDIDATES when ``capped``
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.hits) < self.total

    @property
    def capped(self) -> bool:
        """More posts match than were ranked (the newest CANDIDATES were)."""
        return self.total >= CANDIDATES


def search(
    session: Session,
    viewer_user_id: int | None,
    query: str,
    *,
    community: str | None = None,
    author: str | None = None,
    since: date | None = None,
    until: date | None = None,
    zone: tzinfo = UTC,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """Published posts matching ``query`` that the viewer may read, best first.

    ``community`` is a slug; ``author`` matches part of the author's name (an address
    counts by its local part only, as names are shown); ``since`` and ``until`` are
    inclusive dates in ``zone``, the reader's. The candidates are ranked as ids; then only the page's posts are
    read, and highlighted (marking every match of a common word would cost far more).
    """
    limit = min(max(1, limit), MAX_LIMIT)
    offset = max(0, offset)
    parsed = parse_query(query)
    scope = None if parsed.empty else _scope(session, viewer_user_id, community, author, since, until, zone)
    if scope is None:
        return SearchPage((), 0, offset, limit)
    engine = _engine_for(session, parsed)
    # The page is cut from the ranked ids alone; only its posts are then read, not every
    # candidate's.
    ranked = _best_first(engine.ranked_matches(session, scope))
    page = ranked[offset : offset + limit]
    found = (
        {
            row.id: row
            for row in session.execute(
                select(
                    Post.id,
                    Post.thread_id,
                    Post.subject,
                    Post.author_name,
                    Post.created_at,
                    Post.language,
                    Community.slug,
                    Community.name,
                )
                .join(Community, Community.id == Post.community_id)
                .where(Post.id.in_(page))
            )
        }
        if page
        else {}
    )
    marked = engine.highlights(session, page)
    hits = tuple(_hit(found[i], *marked.get(i, (found[i].subject, ""))) for i in page if i in found)
    return SearchPage(hits, len(ranked), offset, limit)


def matching_post_ids(session: Session, viewer_user_id: int | None, query: str) -> list[int]:
    """The ids of the published posts matching ``query`` that the viewer may read, best
    first: the newest CANDIDATES of them, as :func:`search` ranks them. For features that
    count matches by author or community (``forum.people_search``) under the same privacy
    filter."""
    parsed = parse_query(query)
    if parsed.empty:
        return []
    scope = _scope(session, viewer_user_id, None, None, None, None, UTC)
    assert scope is not None  # no community named: the scope is the viewer's readable ones
    return _best_first(_engine_for(session, parsed).ranked_matches(session, scope))


def _best_first(ranked: list[tuple[int, float]]) -> list[int]:
    """Ids by rank (lower is better), the newest first among equals."""
    return [post_id for post_id, _rank in sorted(ranked, key=lambda match: (match[1], -match[0]))]


@dataclass(frozen=True)
class _Scope:
    """Which posts a search may return, besides being published.

    ``readable`` is a condition on ``Community`` (:func:`forum.access.readable_by`, and the
    one community searched); ``posts`` are conditions on ``Post`` (author, dates), which an
    engine that keeps its index apart from the posts applies only when there are any.
    ``community_id`` is the one community searched, for an engine that can narrow its
    matches by it inside the full-text index.
    """

    readable: ColumnElement[bool]
    posts: tuple[ColumnElement[bool], ...]
    community_id: int | None


def _scope(
    session: Session,
    viewer_user_id: int | None,
    community: str | None,
    author: str | None,
    since: date | None,
    until: date | None,
    zone: tzinfo,
) -> _Scope | None:
    """The scope of a search, or None when the community searched does not exist or the
    viewer may not read it: both take the same query, and no other, so that how long the
    answer takes cannot tell a private community from a missing one."""
    readable = readable_by(viewer_user_id)
    community_id = None
    if community and community.strip():
        community_id = session.scalar(select(Community.id).where(Community.slug == community.strip().lower(), readable))
        if community_id is None:
            return None
        readable = and_(readable, Community.id == community_id)
    return _Scope(readable, tuple(_post_filters(author, since, until, zone)), community_id)


def _hit(row: Row[int, int, str, str, datetime, str, str, str], subject: str, fragment: str) -> SearchHit:
    return SearchHit(
        post_id=row.id,
        thread_id=row.thread_id,
        community_slug=row.slug,
        community_name=row.name,
        author=public_name(row.author_name),
        created_at=row.created_at,
        subject_html=_marked(subject),
        snippet_html=_marked(fragment),
        language=row.language,
    )


def _post_filters(
    author: str | None, since: date | None, until: date | None, zone: tzinfo
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    name = (author or "").split("@")[0].strip()
    if name:
        filters.append(Post.author_name.icontains(name, autoescape=True))
    if since:
        filters.append(Post.created_at >= _midnight(since, zone))
    if until and until < date.max:  # the calendar's last day has no next: nothing is after it
        filters.append(Post.created_at < _midnight(until + timedelta(days=1), zone))
    return filters


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _marked(fragment: str) -> str:
    """Escape ``fragment`` and turn the match markers into balanced ``<mark>`` elements.

    Markers are honoured only where they open or close a mark, so a marker character that
    was in the post itself can at worst mark a word, never leave an element open.
    """
    out: list[str] = []
    open_ = False
    for piece in _MARKERS.split(fragment):
        if piece in (START, STOP):
            if (piece == START) != open_:
                out.append("</mark>" if open_ else "<mark>")
                open_ = not open_
        else:
            out.append(html.escape(piece))
    if open_:
        out.append("</mark>")
    return "".join(out)


# Engines --------------------------------------------------------------------------------


class _Engine(Protocol):
    def ranked_matches(self, session: Session, scope: _Scope) -> list[tuple[int, float]]:
        """(id, rank) of the newest CANDIDATES published posts that match and are in
        ``scope``; a lower rank is a better match."""

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        """post id -> (subject, body fragment) with match markers."""


def _engine_for(session: Session, parsed: ParsedQuery) -> _Engine:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _Together(tuple(_Fts5(parsed, fts) for fts in _FTS_TABLES))
    if dialect == "postgresql":
        return _PostgresFullText(parsed.websearch())
    raise NotImplementedError(f"search is not available on {dialect}")


@dataclass(frozen=True)
class _Together:
    """Engines over separate posts (SQLite's English and Welsh tables), as one: the newest
    CANDIDATES matches of them all, and each post's highlights from the engine that has it."""

    engines: tuple[_Engine, ...]

    def ranked_matches(self, session: Session, scope: _Scope) -> list[tuple[int, float]]:
        found = [match for engine in self.engines for match in engine.ranked_matches(session, scope)]
        return sorted(found, key=lambda match: match[0], reverse=True)[:CANDIDATES]

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        return {
            post_id: marked
            for engine in self.engines
            for post_id, marked in engine.highlights(session, post_ids).items()
        }


_SCOPE = table("post_search_scope", column("post_id"), column("community_id"), column("status", Post.status.type))


@dataclass(frozen=True)
class _FtsTable:
    """One FTS5 table, as the queries name it."""

    name: str

    @cached_property
    def rows(self) -> TableClause:
        return table(self.name, column("rowid"))

    @cached_property
    def itself(self) -> ColumnClause[Any]:
        """The table as FTS5 functions (MATCH, bm25, highlight) take it."""
        return literal_column(self.name)

    @cached_property
    def rowid_tested(self) -> ColumnClause[int]:
        """The rowid behind a unary "+": SQLite then tests it against a list instead of handing
        the constraint to FTS5, which would run the whole MATCH again for every id in the list."""
        return literal_column(f"+{self.name}.rowid")


_FTS_TABLES = (_FtsTable(SQLITE_SEARCH_TABLE), _FtsTable(SQLITE_WELSH_SEARCH_TABLE))


@dataclass(frozen=True)
class _Fts5:
    query: ParsedQuery
    fts: _FtsTable

    def _matches(self, expression: str) -> ColumnElement[bool]:
        return self.fts.itself.op("MATCH")(expression)

    def ranked_matches(self, session: Session, scope: _Scope) -> list[tuple[int, float]]:
        ranking = [p for p in self.query.phrases if self._rare(session, p)]
        everything = ranking == list(self.query.phrases)
        # bm25 works only in the query that scans the FTS table: when it ranks by every
        # word, rank as the candidates are read.
        rank = func.bm25(self.fts.itself, *_FTS_WEIGHTS) if everything else literal_column("0.0")
        # FTS5 reads its matches newest first (rowid descending) and stops at the limit;
        # within one community it reads only the community's matches (its third column).
        # The privacy filter reads each candidate's community and status from a narrow
        # index (migration 0009); the post itself only for an author or date filter.
        matches = (
            select(self.fts.rows.c.rowid, rank)
            .join(_SCOPE, _SCOPE.c.post_id == self.fts.rows.c.rowid)
            .join(Community, Community.id == _SCOPE.c.community_id)
            .where(
                self._matches(self.query.fts5(scope.community_id)),
                _SCOPE.c.status == PostStatus.published,
                scope.readable,
            )
        )
        if scope.posts:
            matches = matches.join(Post, Post.id == self.fts.rows.c.rowid).where(*scope.posts)
        found = [
            (post_id, score)
            for post_id, score in session.execute(matches.order_by(self.fts.rows.c.rowid.desc()).limit(CANDIDATES))
        ]
        if everything or not ranking or not found:
            return found
        # Ranked by the rarer words alone: their matches are read over the candidates' span
        # of ids only, and scored for the candidates only.
        # The ids go as one JSON parameter: a thousand bound parameters cost more to build
        # than the query takes to run.
        ids = [post_id for post_id, _ in found]
        listed: Select[Any] = select(column("value")).select_from(func.json_each(json.dumps(ids)))
        scores = dict(
            session.execute(
                select(self.fts.rows.c.rowid, func.bm25(self.fts.itself, *_FTS_WEIGHTS)).where(
                    self._matches(ParsedQuery(tuple(ranking)).fts5()),
                    self.fts.rows.c.rowid.between(min(ids), max(ids)),
                    self.fts.rowid_tested.in_(listed),
                )
            ).all()
        )
        return [(post_id, scores.get(post_id, 0.0)) for post_id in ids]

    def _rare(self, session: Session, phrase: str) -> bool:
        """Whether ``phrase`` is in at most RANKED_WORD_POSTS posts (counting stops there).

        Counting reads the word's matches, up to RANKED_WORD_POSTS of them: for a common
        word a good share of a search's time (bench/README.md, "Search, third round"). So
        the answer is remembered (see _COMMONNESS)."""
        key = (str(session.get_bind().engine.url), self.fts.name, RANKED_WORD_POSTS, phrase)
        now = monotonic()
        rare, until = _COMMONNESS.get(key, (True, now))
        if now < until:
            return rare
        found: Select[Any] = (
            select(literal_column("1")).select_from(self.fts.rows).where(self._matches(ParsedQuery((phrase,)).fts5()))
        )
        rare = session.scalar(found.limit(1).offset(RANKED_WORD_POSTS)) is None
        if len(_COMMONNESS) >= REMEMBERED_WORDS:
            _COMMONNESS.clear()  # a bound, not an eviction policy: it fills slowly
        _COMMONNESS[key] = (rare, now + RARE_REMEMBERED_SECONDS if rare else math.inf)
        return rare

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        if not post_ids:
            return {}
        rows = session.execute(
            select(
                self.fts.rows.c.rowid,
                func.highlight(self.fts.itself, 0, START, STOP),
                func.snippet(self.fts.itself, 1, START, STOP, "…", SNIPPET_TOKENS),
            ).where(self._matches(self.query.fts5()), self.fts.rows.c.rowid.in_(post_ids))
        )
        return {post_id: (subject, body) for post_id, subject, body in rows}


@dataclass(frozen=True)
class _Window:
    """Posts with ids in (low, high]; None: unbounded."""

    low: int | None
    high: int | None

    def posts(self, scope: _Scope, query: Select[*_Ts], *, id_index: bool = True) -> Select[*_Ts]:
        """``query`` (on PostSearch) narrowed to the window, and to the community searched.

        ``id_index=False`` writes the bounds so that no index can answer them: they are
        then tested on the rows the other conditions found (else the planner may AND a
        community's matches with the BRIN index's pages of nearly the whole archive,
        instead of with the community's own index)."""
        post_id = PostSearch.post_id if id_index else PostSearch.post_id + 0
        bounds = [post_id > self.low] if self.low is not None else []
        bounds += [post_id <= self.high] if self.high is not None else []
        if scope.community_id is not None:
            bounds.append(PostSearch.community_id == scope.community_id)
        return query.where(*bounds)


_ENGLISH: ColumnClause[Any] = literal_column(f"'{ENGLISH_SEARCH}'::regconfig")
_WELSH: ColumnClause[Any] = literal_column(f"'{WELSH_SEARCH}'::regconfig")
_SEARCH_CONFIG = getattr(func, SEARCH_CONFIG)  # a post's language -> its configuration
_SEARCH_TEXT = getattr(func, SEARCH_TEXT)  # what the index read of a body: headlines read no more
_HEADLINE_SUBJECT = f"StartSel={START}, StopSel={STOP}, HighlightAll=true"
_HEADLINE_BODY = f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12"


@contextmanager
def _plans_of_their_own(session: Session) -> Iterator[None]:
    """PostgreSQL plans each statement for its own parameters meanwhile, on this session's
    connection.

    psycopg prepares a statement once it has run five times on a connection, and PostgreSQL
    may then plan it once for any parameters (a generic plan). A search's parameters are
    its plan: a window of 2,000 posts is walked, one of half the archive read through the
    full-text index. With one plan for both, some searches ran with the other's plan and
    took many times longer. Only here: other pages' statements gain from plans made once
    (bench/README.md, "PostgreSQL: one plan per search")."""
    connection = session.connection()
    connection.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
    try:
        yield
    finally:
        connection.exec_driver_sql("RESET plan_cache_mode")


@dataclass(frozen=True)
class _PostgresFullText:
    websearch: str

    def _query(self, language: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[object]:
        """The query for a post in ``language``, read in that language's configuration."""
        return case(
            (language == "cy", func.websearch_to_tsquery(_WELSH, self.websearch)),
            else_=func.websearch_to_tsquery(_ENGLISH, self.websearch),
        )

    def _either(self) -> ColumnElement[object]:
        """The query in either configuration: what the GIN index can find, a few more posts
        than match (a Welsh post may hold an English stem), which the exact test then drops."""
        return func.websearch_to_tsquery(_ENGLISH, self.websearch).op("||")(
            func.websearch_to_tsquery(_WELSH, self.websearch)
        )

    def ranked_matches(self, session: Session, scope: _Scope) -> list[tuple[int, float]]:
        """The newest matches, read in windows of the scope's posts from the newest down.

        Asked for the newest matches at once, the planner either walks the posts newest
        first testing each one (for a rare word, most of the archive), or takes every match
        from the GIN index and sorts them (for a common word, a large share of it). Here the first window, FIRST_WINDOW posts, is walked;
        the share of its posts that match sizes the next window (for the matches still
        wanted, with a margin), and says how to read it: walked while at least WALK_DENSITY
        of the posts match, else through the GIN index, which then gives only the matches
        within the window (site-wide, a BRIN index says where those posts are). Within a
        community the GIN index is read once for everything older: its matches ANDed with
        the community's index are exact, so only the community's matches are read from the
        table. A window without a match is followed by everything older.

        Each window's statements are planned for their own bounds and words
        (:func:`_plans_of_their_own`).
        """
        with _plans_of_their_own(session):
            return self._windows(session, scope)

    def _windows(self, session: Session, scope: _Scope) -> list[tuple[int, float]]:
        found: list[tuple[int, float]] = []
        high: int | None = None
        size: int | None = FIRST_WINDOW
        density = 1.0
        while len(found) < CANDIDATES:
            low = self._boundary(session, scope, high, size) if size else None
            read = self._walked if density >= WALK_DENSITY else self._indexed
            more = read(session, scope, _Window(low, high), CANDIDATES - len(found))
            found.extend(more)
            if low is None or size is None:
                break
            density = len(more) / size
            size = self._next_size(scope, density, CANDIDATES - len(found)) if more else None
            high = low
        return found

    @staticmethod
    def _next_size(scope: _Scope, density: float, wanted: int) -> int | None:
        """How many posts the next window takes (None: all the older ones)."""
        if density < WALK_DENSITY and scope.community_id is not None:
            return None
        return math.ceil(wanted / density * WINDOW_MARGIN)

    @staticmethod
    def _boundary(session: Session, scope: _Scope, high: int | None, size: int) -> int | None:
        """The id below the ``size`` newest posts of the scope up to ``high`` (None: fewer).

        Site-wide, ids are counted instead of posts (they are given in order, so nearly
        every id is a post's): counting a large window's posts would read it all. A
        community's posts are counted in its index (a few thousand entries)."""
        if scope.community_id is None:
            top = high if high is not None else session.scalar(select(func.max(PostSearch.post_id))) or 0
            return top - size if top > size else None
        return session.scalar(
            _Window(None, high)
            .posts(scope, select(PostSearch.post_id))
            .order_by(PostSearch.post_id.desc())
            .offset(size)
            .limit(1)
        )

    def _walked(self, session: Session, scope: _Scope, window: _Window, wanted: int) -> list[tuple[int, float]]:
        """The window's posts read newest first and tested one by one: the test is written
        as the function behind ``@@``, which the planner cannot answer from the GIN index.
        (Kept out of a subquery: in one, the planner reads a community's posts in table
        order and sorts them, vectors and all, before testing any.)"""
        return self._ranked(session, scope, window, wanted, self._exactly())

    def _exactly(self) -> ColumnElement[bool]:
        """Whether a post matches in its own language's configuration."""
        matched: ColumnElement[bool] = func.ts_match_vq(PostSearch.search_vector, self._query(PostSearch.language))
        return matched

    def _indexed(self, session: Session, scope: _Scope, window: _Window, wanted: int) -> list[tuple[int, float]]:
        """The window's matches from the GIN index: site-wide ANDed with the BRIN index's
        pages of the window, in a community with the community's index (exact, so only its
        matches are read from the table; the window's bounds are tested on those)."""
        return self._ranked(
            session,
            scope,
            window,
            wanted,
            and_(PostSearch.search_vector.op("@@")(self._either()), self._exactly()),
            id_index=scope.community_id is None,
        )

    def _ranked(
        self,
        session: Session,
        scope: _Scope,
        window: _Window,
        wanted: int,
        matching: ColumnElement[bool],
        *,
        id_index: bool = True,
    ) -> list[tuple[int, float]]:
        """The newest ``wanted`` posts of the window that are ``matching`` and in scope, with
        their rank, computed for those only (not for every match the index gave)."""
        newest = (
            window.posts(
                scope, select(PostSearch.post_id, PostSearch.search_vector, PostSearch.language), id_index=id_index
            )
            .join(Community, Community.id == PostSearch.community_id)
            .where(matching, PostSearch.status == PostStatus.published, scope.readable)
        )
        if scope.posts:
            newest = newest.join(Post, Post.id == PostSearch.post_id).where(*scope.posts)
        posts = newest.order_by(PostSearch.post_id.desc()).limit(wanted).subquery()
        return [
            (post_id, rank)
            for post_id, rank in session.execute(
                select(posts.c.post_id, -func.ts_rank_cd(posts.c.search_vector, self._query(posts.c.language)))
            )
        ]

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        if not post_ids:
            return {}
        query, config = self._query(Post.language), _SEARCH_CONFIG(Post.language)
        rows = session.execute(
            select(
                Post.id,
                func.ts_headline(config, Post.subject, query, _HEADLINE_SUBJECT),
                func.ts_headline(config, _SEARCH_TEXT(Post.body), query, _HEADLINE_BODY),
            ).where(Post.id.in_(post_ids))
        )
        return {post_id: (subject, body) for post_id, subject, body in rows}
