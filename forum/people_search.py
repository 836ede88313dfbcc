"""Finding an expert: members ranked by what they say they know and by what they have written.

"Who knows about damp and mould?" is answered from two kinds of evidence:

* stated expertise: the areas a member named on their profile that match a word of the
  question (weighing most: the member says so);
* what they wrote: their posts that the site search (``forum.search``) finds for the
  question, counted per community. The search applies the searcher's privacy filter, so a
  post the searcher may not read is never counted, and the communities named in a
  result's reason are only ones the searcher may read.

Answers to a question thanked or marked helpful will weigh here too, once posts can be
thanked: they join the evidence in :func:`_writing_evidence`.

Only members whose profile the searcher may see are listed (``forum.profiles.visible_to``).
A question also matches names, organisations, job titles and regions, so the directory is
searched by those too. The work is bounded whatever the number of members: the candidates
are found by id with their scores, and only the page's cards are then read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from forum.models import Community, ExpertiseTag, Post, Profile, User, UserExpertise
from forum.profiles import PersonCard, cards, fold, visible_to
from forum.search import matching_post_ids

PAGE = 30
# A question's words that say nothing about its topic ("who knows about …?"), in English and Welsh.
FILLER = frozenset(
    [
        "who",
        "whos",
        "knows",
        "know",
        "knowing",
        "about",
        "anyone",
        "someone",
        "somebody",
        "expert",
        "experts",
        "on",
        "in",
        "is",
        "there",
        "has",
        "any",
        "does",
        "do",
        "a",
        "an",
        "the",
        "of",
        "for",
        "with",
        "and",
        "or",
        "pwy",
        "sy",
        "sydd",
        "n",
        "gwybod",
        "am",
        "arbenigwr",
        "arbenigwyr",
        "unrhyw",
        "rywun",
        "yn",
        "ar",
    ]
)
MAX_WORDS = 6
MAX_TAGS = 200
MAX_CANDIDATES = 5000
EXPERTISE_WEIGHT = 1000  # one matching area outweighs any number of posts
TEXT_WEIGHT = 100  # a name, organisation or region matching the whole question
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Evidence:
    """Posts about the question by one member in one community the searcher may read."""

    community_name: str
    posts: int


@dataclass(frozen=True)
class Found:
    card: PersonCard
    expertise: tuple[str, ...]  # the areas that matched
    evidence: tuple[Evidence, ...] = ()  # most posts first


@dataclass(frozen=True)
class Directory:
    people: tuple[Found, ...]
    total: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.people) < self.total


def topic_words(question: str) -> list[str]:
    """The words of a question that name its topic, in lower case; all of them if all are
    filler."""
    words = [w.casefold() for w in _WORD.findall(question[:500])]
    topical = [w for w in words if fold(w) not in FILLER]
    return (topical or words)[:MAX_WORDS]


def find_people(session: Session, viewer_id: int | None, question: str, *, offset: int = 0) -> Directory:
    """The members the viewer may see, best match first; with no question, everyone the
    viewer may see, by name."""
    offset = max(0, offset)
    words = topic_words(question)
    if viewer_id is None:
        return Directory((), 0, offset)
    if not words:
        return _everyone(session, viewer_id, offset)
    tags = dict(
        session.execute(
            select(ExpertiseTag.id, ExpertiseTag.label)
            .where(or_(*(ExpertiseTag.key.contains(fold(w), autoescape=True) for w in words)))
            .limit(MAX_TAGS)
        ).all()
    )
    writing = _writing_evidence(session, viewer_id, " ".join(words))
    text_match = and_(*(_mentions(w, session.get_bind().dialect.name) for w in words))
    # How many of the matching areas each member gave, joined in: no list of ids goes back.
    stated = (
        select(UserExpertise.user_id, func.count().label("areas"))
        .where(UserExpertise.tag_id.in_(list(tags)))
        .group_by(UserExpertise.user_id)
        .subquery()
    )
    candidates = session.execute(
        select(User.id, text_match, stated.c.areas)
        .outerjoin(Profile, Profile.user_id == User.id)
        .outerjoin(stated, stated.c.user_id == User.id)
        .where(visible_to(viewer_id), or_(text_match, stated.c.areas.is_not(None), User.id.in_(list(writing))))
        .limit(MAX_CANDIDATES)
    ).all()

    def score(row: tuple[int, bool, int | None]) -> int:
        user_id, by_text, areas = row
        posts = sum(writing.get(user_id, Counter()).values())
        return EXPERTISE_WEIGHT * (areas or 0) + posts + (TEXT_WEIGHT if by_text else 0)

    ranked = sorted(((row[0], bool(row[1]), row[2]) for row in candidates), key=lambda row: (-score(row), row[0]))
    page = [user_id for user_id, _, _ in ranked[offset : offset + PAGE]]
    shown = cards(session, page)
    areas: dict[int, list[str]] = {}
    for user_id, tag_id in session.execute(
        select(UserExpertise.user_id, UserExpertise.tag_id).where(
            UserExpertise.user_id.in_(page), UserExpertise.tag_id.in_(tags)
        )
    ):
        areas.setdefault(user_id, []).append(tags[tag_id])
    names = dict(
        session.execute(
            select(Community.id, Community.name).where(
                Community.id.in_({c for u in page for c in writing.get(u, Counter())})
            )
        ).all()
    )
    people = tuple(
        Found(
            card=shown[user_id],
            expertise=tuple(sorted(areas.get(user_id, ()))),
            evidence=tuple(Evidence(names[c], n) for c, n in writing.get(user_id, Counter()).most_common()),
        )
        for user_id in page
    )
    return Directory(people, len(ranked), offset)


def _mentions(word: str, dialect: str) -> ColumnElement[bool]:
    """A member's name, organisation, job title or region contains ``word`` (a word: no
    space), whatever its case. Every member's columns are read, so each engine is asked
    its cheapest way: SQLite's LIKE ignores case already (ASCII's, as its lower() does);
    PostgreSQL lowers the four columns joined, once, rather than each."""
    columns = (User.display_name, Profile.organisation, Profile.job_title, Profile.region)
    if dialect == "sqlite":
        return or_(*(column.contains(word, autoescape=True) for column in columns))
    return func.lower(func.concat_ws(" ", *columns)).contains(word.lower(), autoescape=True)


def _writing_evidence(session: Session, viewer_id: int, question: str) -> dict[int, Counter[int]]:
    """For each author, how many of the posts matching ``question`` that the viewer may
    read they wrote, per community: one grouped query over the search's matches."""
    post_ids = matching_post_ids(session, viewer_id, question)
    if not post_ids:
        return {}
    evidence: dict[int, Counter[int]] = {}
    for author_id, community_id, count in session.execute(
        select(Post.author_id, Post.community_id, func.count())
        .where(Post.id.in_(post_ids))
        .group_by(Post.author_id, Post.community_id)
    ):
        if author_id is not None:  # a post from an address that is nobody's counts for nobody
            evidence.setdefault(author_id, Counter())[community_id] = count
    return evidence


def _everyone(session: Session, viewer_id: int, offset: int) -> Directory:
    visible = select(User.id).outerjoin(Profile, Profile.user_id == User.id).where(visible_to(viewer_id))
    total = session.scalar(select(func.count()).select_from(visible.subquery())) or 0
    page = list(session.scalars(visible.order_by(User.display_name, User.id).offset(offset).limit(PAGE)))
    shown = cards(session, page)
    return Directory(tuple(Found(card=shown[u], expertise=()) for u in page), total, offset)
