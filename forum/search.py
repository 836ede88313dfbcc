"""Full-text search over posts: one function for every channel that searches.

Each database searches with its own engine, behind :func:`search`:

* SQLite: the FTS5 table ``posts_fts`` (migration 0002), ranked by bm25 with the subject
  weighing ten times the body; ``highlight()`` and ``snippet()`` mark the matches.
* PostgreSQL: the stored ``posts.search_vector`` (subject weight A, body B) and its GIN
  index, ``websearch_to_tsquery``, ``ts_rank_cd`` and ``ts_headline``.

Either way the work a search does is bounded, however large the archive: only the newest
CANDIDATES matches the searcher may read are ranked (as many as the results pages can
show), and on SQLite a word found in more than RANKED_WORD_POSTS posts is left out of
the ranking, because bm25 reads every post containing each word it ranks by (to weigh
rare words above common ones), whatever the cap: 40 ms for a word in every post of a
million. Such a word says little about which post is the better match (in a million posts
bm25 weighs a word in 50,000 about a quarter as much as one in a few dozen, and a word in
half of them not at all); the rarer words of the query rank the results, and when every word is
that common the newest come first.

The searcher's text never reaches either query language as typed: :func:`parse_query`
reads words, "quoted phrases" and -exclusions out of it, and each engine is given a query
rendered from that, made only of quoted words. No input can cause a syntax error, and both
engines understand a query the same way.

Privacy is decided in SQL, before ranking, counting and paging: only published posts, only
in communities the searcher may read (:func:`forum.access.readable_by`), so neither a hit
nor the number of hits can reveal a private post.

Highlights: the engines mark matches with two private-use characters; the fragment is
escaped as a whole and only those markers become ``<mark>``, so a post's own text can never
add markup to a results page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session

from forum.access import readable_by
from forum.archive import public_name
from forum.models import (
    POST_SEARCH_VECTOR,
    SEARCH_LANGUAGE,
    Community,
    Post,
    PostStatus,
)
from forum.schema import SQLITE_SEARCH_TABLE

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
# SQLite: looking one post up in the full-text index costs about as much as reading this
# many matches from it (measured at a million posts), and posts are looked up this many
# at a time.
PROBE_COST = 100
PROBE_BATCH = 500
SUBJECT_WEIGHT = 10.0  # SQLite's bm25 column weight; PostgreSQL weighs A (subject) 1.0 vs B (body) 0.4
SNIPPET_TOKENS = 24

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

    def fts5(self) -> str:
        """SQLite FTS5 syntax: ``"a b" "c" NOT "d"`` (NOT binds tighter than the implicit AND)."""
        return " ".join(f'"{p}"' for p in self.phrases) + "".join(f' NOT "{p}"' for p in self.excluded)

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
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """Published posts matching ``query`` that the viewer may read, best first.

    ``community`` is a slug; ``author`` matches part of the author's name (an address
    counts by its local part only, as names are shown); ``since`` and ``until`` are
    inclusive UTC dates. The candidates are ranked as ids; then only the page's posts are
    read, and highlighted (marking every match of a common word would cost far more).
    """
    limit = min(max(1, limit), MAX_LIMIT)
    offset = max(0, offset)
    parsed = parse_query(query)
    if parsed.empty:
        return SearchPage((), 0, offset, limit)
    engine = _engine_for(session, parsed)
    readable = [Post.status == PostStatus.published, readable_by(viewer_user_id),
                *_filters(community, author, since, until)]
    ranked = engine.ranked_matches(session, readable, _community_posts(community))
    # The page is cut from the ranked ids alone; only its posts are then read, not every
    # candidate's.
    ranked.sort(key=lambda match: (match[1], -match[0]))
    page = [post_id for post_id, _rank in ranked[offset:offset + limit]]
    found = {row.id: row for row in session.execute(
        select(Post.id, Post.thread_id, Post.subject, Post.author_name, Post.created_at, Community.slug,
               Community.name)
        .join(Community, Community.id == Post.community_id).where(Post.id.in_(page))
    )} if page else {}
    marked = engine.highlights(session, page)
    hits = tuple(_hit(found[i], *marked.get(i, (found[i].subject, ""))) for i in page if i in found)
    return SearchPage(hits, len(ranked), offset, limit)


def _hit(row: Row[tuple[object, ...]], subject: str, fragment: str) -> SearchHit:
    return SearchHit(
        post_id=row.id, thread_id=row.thread_id, community_slug=row.slug, community_name=row.name,
        author=public_name(row.author_name), created_at=row.created_at,
        subject_html=_marked(subject), snippet_html=_marked(fragment),
    )


def _filters(community: str | None, author: str | None, since: date | None,
             until: date | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if community and community.strip():
        filters.append(Community.slug == community.strip().lower())
    name = (author or "").split("@")[0].strip()
    if name:
        filters.append(Post.author_name.icontains(name, autoescape=True))
    if since:
        filters.append(Post.created_at >= _midnight(since))
    if until:
        filters.append(Post.created_at < _midnight(until + timedelta(days=1)))
    return filters


def _community_posts(community: str | None) -> Select[tuple[int]] | None:
    """The ids of a community's posts, for an engine that can narrow its matches by them."""
    if not (community and community.strip()):
        return None
    return select(Post.id).join(Community, Community.id == Post.community_id).where(
        Community.slug == community.strip().lower())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


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
    def ranked_matches(self, session: Session, readable: list[ColumnElement[bool]],
                       within: Select[tuple[int]] | None = None) -> list[tuple[int, float]]:
        """(id, rank) of the newest CANDIDATES posts that match and meet ``readable``
        (conditions on Post and Community); a lower rank is a better match. ``within``,
        when given, selects the ids of the posts of the one community searched (already
        required by ``readable``): an engine may use it to narrow its matches early."""

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        """post id -> (subject, body fragment) with match markers."""


def _engine_for(session: Session, parsed: ParsedQuery) -> _Engine:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _Fts5(parsed)
    if dialect == "postgresql":
        return _PostgresFullText(parsed.websearch())
    raise NotImplementedError(f"search is not available on {dialect}")


_FTS = table(SQLITE_SEARCH_TABLE, column("rowid"))
_FTS_NAME = literal_column(SQLITE_SEARCH_TABLE)  # FTS5 functions take the table itself
# The rowid behind a unary "+": SQLite then tests it against a list instead of handing the
# constraint to FTS5, which would run the whole MATCH again for every id in the list.
_FTS_ROWID_TESTED = literal_column(f"+{SQLITE_SEARCH_TABLE}.rowid")


@dataclass(frozen=True)
class _Fts5:
    query: ParsedQuery

    @staticmethod
    def _matches(expression: str) -> ColumnElement[bool]:
        return _FTS_NAME.op("MATCH")(expression)

    def ranked_matches(self, session: Session, readable: list[ColumnElement[bool]],
                       within: Select[tuple[int]] | None = None) -> list[tuple[int, float]]:
        ranking = [p for p in self.query.phrases if self._rare(session, p)]
        everything = ranking == list(self.query.phrases)
        # bm25 works only in the query that scans the FTS table: when it ranks by every
        # word, rank as the candidates are read.
        rank = func.bm25(_FTS_NAME, SUBJECT_WEIGHT, 1.0) if everything else literal_column("0.0")
        candidates = select(_FTS.c.rowid, rank).join(Post, Post.id == _FTS.c.rowid).join(
            Community, Community.id == Post.community_id).where(self._matches(self.query.fts5()), *readable)
        if within is not None and not ranking and self._probe_cheaper(session, within):
            found = self._probed(session, candidates, within)
        else:
            # FTS5 reads its matches newest first (rowid descending) and stops at the limit.
            # Within one community, a common word matches posts of every other community
            # too: each match would cost a lookup of its post just to be dropped, so matches
            # are first tested against the community's post ids (one index range, read once).
            narrowed = [_FTS_ROWID_TESTED.in_(within)] if within is not None else []
            found = [(post_id, score) for post_id, score in session.execute(
                candidates.where(*narrowed).order_by(_FTS.c.rowid.desc()).limit(CANDIDATES))]
        if everything or not ranking or not found:
            return found
        # Ranked by the rarer words alone: their matches are read over the candidates' span
        # of ids only, and scored for the candidates only.
        ids = [post_id for post_id, _ in found]
        scores = dict(session.execute(
            select(_FTS.c.rowid, func.bm25(_FTS_NAME, SUBJECT_WEIGHT, 1.0))
            .where(self._matches(ParsedQuery(tuple(ranking)).fts5()), _FTS.c.rowid.between(min(ids), max(ids)),
                   _FTS_ROWID_TESTED.in_(ids))
        ).all())
        return [(post_id, scores.get(post_id, 0.0)) for post_id in ids]

    def _probe_cheaper(self, session: Session, within: Select[tuple[int]]) -> bool:
        """Whether asking FTS5 about the community's posts one by one, newest first, costs
        less than reading the query's matches newest first until CANDIDATES are in the
        community: so for words common across the site in a small community. Asking about
        one post costs FTS5 about a hundred times as much as reading one match."""
        posts = session.scalar(select(func.max(Post.id))) or 0
        members = session.scalar(select(func.count()).select_from(within.subquery())) or 0
        if not members:
            return False
        # How many posts match, from how far back the CANDIDATES-th newest match lies.
        deepest = session.scalar(select(_FTS.c.rowid).where(self._matches(self.query.fts5()))
                                 .order_by(_FTS.c.rowid.desc()).limit(1).offset(CANDIDATES - 1))
        matching = CANDIDATES * posts / max(posts - deepest, 1) if deepest is not None else CANDIDATES
        read = min(matching, CANDIDATES * posts / members)
        asked = min(members, CANDIDATES * posts / matching)
        return asked * PROBE_COST < read

    def _probed(self, session: Session, candidates: Select[tuple[int, float]],
                within: Select[tuple[int]]) -> list[tuple[int, float]]:
        """The newest CANDIDATES of ``candidates`` among the posts ``within`` selects, asked
        about in batches, newest first. Without the "+" FTS5 takes the list of ids itself
        and looks each one up in its index."""
        ids = session.scalars(within.order_by(Post.id.desc())).all()
        found: list[tuple[int, float]] = []
        for start in range(0, len(ids), PROBE_BATCH):
            batch = session.execute(candidates.where(_FTS.c.rowid.in_(ids[start:start + PROBE_BATCH]))).all()
            found.extend(sorted(((post_id, score) for post_id, score in batch), reverse=True))
            if len(found) >= CANDIDATES:
                break
        return found[:CANDIDATES]

    def _rare(self, session: Session, phrase: str) -> bool:
        """Whether ``phrase`` is in at most RANKED_WORD_POSTS posts (counting stops there)."""
        found = select(literal_column("1")).select_from(_FTS).where(self._matches(f'"{phrase}"'))
        beyond = session.scalar(found.limit(1).offset(RANKED_WORD_POSTS))
        return beyond is None

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        if not post_ids:
            return {}
        rows = session.execute(
            select(_FTS.c.rowid, func.highlight(_FTS_NAME, 0, START, STOP),
                   func.snippet(_FTS_NAME, 1, START, STOP, "…", SNIPPET_TOKENS))
            .where(self._matches(self.query.fts5()), _FTS.c.rowid.in_(post_ids))
        )
        return {post_id: (subject, body) for post_id, subject, body in rows}


_LANGUAGE = literal_column(f"'{SEARCH_LANGUAGE}'::regconfig")
_HEADLINE_SUBJECT = f"StartSel={START}, StopSel={STOP}, HighlightAll=true"
_HEADLINE_BODY = f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12"


@dataclass(frozen=True)
class _PostgresFullText:
    websearch: str

    def _query(self) -> ColumnElement[object]:
        return func.websearch_to_tsquery(_LANGUAGE, self.websearch)

    def ranked_matches(self, session: Session, readable: list[ColumnElement[bool]],
                       within: Select[tuple[int]] | None = None) -> list[tuple[int, float]]:
        # ``within`` is not needed: the planner narrows by community through the GIN index.
        newest = (
            select(Post.id).join(Community, Community.id == Post.community_id)
            .where(POST_SEARCH_VECTOR.op("@@")(self._query()), *readable)
            .order_by(Post.id.desc()).limit(CANDIDATES).scalar_subquery()
        )
        # Ranked apart from the cut, so only the candidates' vectors are read for ranking.
        return [(post_id, rank) for post_id, rank in session.execute(
            select(Post.id, -func.ts_rank_cd(POST_SEARCH_VECTOR, self._query())).where(Post.id.in_(newest)))]

    def highlights(self, session: Session, post_ids: list[int]) -> dict[int, tuple[str, str]]:
        if not post_ids:
            return {}
        query = self._query()
        rows = session.execute(
            select(Post.id, func.ts_headline(_LANGUAGE, Post.subject, query, _HEADLINE_SUBJECT),
                   func.ts_headline(_LANGUAGE, Post.body, query, _HEADLINE_BODY))
            .where(Post.id.in_(post_ids))
        )
        return {post_id: (subject, body) for post_id, subject, body in rows}
