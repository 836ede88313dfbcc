"""What digests need from the core: which posts are new, how far each member's digests
have got, and the shared blocks a queued digest is made of.

Three things a digest needs that a personal copy of a post does not:

* **What is new.** Every publication is logged in ``post_publications`` with an increasing
  id (see :class:`~forum.models.PostPublication`). A run reads up to a :func:`cutoff`
  taken when no publication is half-committed, and a member's high-water mark is the
  cutoff of their last digest, so the next one covers exactly the publications after it.
  A post published while a run is building lies past its cutoff: it is in the next
  digest, never in neither (nor in both).
* **Exactly once.** :func:`claim` moves members' cursors to the new slot only where they
  are still behind it, in the transaction that queues their digests, so two runs, two
  processes or a retry after a crash queue one digest per member and slot.
* **Size.** Seventy thousand digests of some seventy posts each would be gigabytes stored
  whole, and most of each is the same as the next member's. A queued digest is a list of
  parts instead: shared blocks (``digest_blocks``; a post in one time zone, a thread's
  heading …), some with a slot for one of the member's tokens (the reply address of a
  thread, the unsubscribe link of a community). Mail delivery joins them back with
  :func:`expand`, making the tokens as it makes a personal copy's: when it sends.

Callers own the transactions, as everywhere in the core; :func:`cutoff` wants one of its
own, since on PostgreSQL it briefly holds a lock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from forum import outbox, tokens
from forum.models import (
    Community,
    Delivery,
    DigestBlock,
    DigestCursor,
    DigestRun,
    Membership,
    MemberStatus,
    OutboxItem,
    OutboxStatus,
    Post,
    PostPublication,
    PostStatus,
    Thread,
    User,
    UserEmail,
    utcnow,
)
from forum.outbox import Claimed
from forum.outbox_signal import mark_queued
from forum.tokens import Signer

# Where a block takes its member's value: a private-use character, which renderers strip
# from everything people wrote, so it marks nothing else.
SLOT = "\ue000"
PERIODS = (Delivery.daily, Delivery.weekly)
# Longer than any period, so that even a catch-up after a long outage finds its posts.
PUBLICATIONS_KEPT = timedelta(days=35)
BODY_CHARS = 4000  # of a post's text read for its excerpt: enough to find its opening words
# Post.source of posts brought in from an old archive (``listbridge import``): history, not news.
IMPORTED = "import"
_CHUNK = 5000  # ids per IN (...) list, well inside SQLite's limit on bound parameters


# What goes in a block's slot: the member's token of this purpose for this id.
Value = tuple[str, int]
VALUE_PURPOSES = frozenset({tokens.REPLY, tokens.UNSUBSCRIBE})  # a stored digest may ask for no other


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a run makes each block once
class Block:
    """Rendered digest text and its HTML twin; :data:`SLOT` marks where a member's token goes."""

    text: str
    html: str


def assemble(signer: Signer, user_id: int, parts: Iterable[tuple[Block, Value | None]]) -> tuple[str, str]:
    """The plain text and HTML of member ``user_id``'s digest, from its blocks and the
    tokens their slots take."""
    texts: list[str] = []
    htmls: list[str] = []
    for block, value in parts:
        if value is None:
            texts.append(block.text)
            htmls.append(block.html)
            continue
        purpose, about = value
        if purpose not in VALUE_PURPOSES:
            raise ValueError(f"a digest may not carry {purpose!r} tokens")
        token = signer.make(purpose, user_id, about)
        texts.append(block.text.replace(SLOT, token))
        htmls.append(block.html.replace(SLOT, token))
    return "".join(texts), "".join(htmls)


# Reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscriber:
    """A person who takes a digest of this period somewhere, with their cursor."""

    user_id: int
    email: str
    timezone: str | None
    hour: int | None
    slot_at: datetime | None  # of their last digest; None before the first
    high_water: int | None
    language: str | None = None  # their own choice for mail ("cy", "en"); None: their communities'


def subscribers(session: Session, period: Delivery, user_id: int | None = None) -> list[Subscriber]:
    """Everyone with an active membership delivered ``period`` and a primary address.

    Only *active* memberships count, here and in :func:`subscriptions`: a pending or
    banned member gets nothing, so a private community reaches only those
    :func:`forum.access.can_read` lets read it.
    """
    takes = exists().where(
        Membership.user_id == User.id, Membership.delivery == period, Membership.status == MemberStatus.active
    )
    query = (
        select(
            User.id,
            UserEmail.email,
            User.timezone,
            User.digest_hour,
            DigestCursor.slot_at,
            DigestCursor.high_water,
            User.language,
        )
        .join(UserEmail, and_(UserEmail.user_id == User.id, UserEmail.is_primary.is_(True)))
        .outerjoin(DigestCursor, and_(DigestCursor.user_id == User.id, DigestCursor.period == period))
        .where(takes)
        .order_by(User.id)
    )
    if user_id is not None:
        query = query.where(User.id == user_id)
    return [Subscriber(*row) for row in session.execute(query)]


def subscriptions(session: Session, period: Delivery, user_id: int | None = None) -> dict[int, list[int]]:
    """Member → the communities whose posts their ``period`` digest gathers."""
    query = select(Membership.user_id, Membership.community_id).where(
        Membership.delivery == period, Membership.status == MemberStatus.active
    )
    if user_id is not None:
        query = query.where(Membership.user_id == user_id)
    out: dict[int, list[int]] = {}
    for member, community in session.execute(query):
        out.setdefault(member, []).append(community)
    return out


@dataclass(frozen=True)
class CommunityRef:
    id: int
    slug: str
    name: str
    language: str = "en"  # "en", "cy" or "bilingual"


def communities(session: Session, ids: Collection[int]) -> dict[int, CommunityRef]:
    rows = _chunked(
        ids,
        lambda chunk: session.execute(
            select(Community.id, Community.slug, Community.name, Community.language).where(Community.id.in_(chunk))
        ),
    )
    return {row[0]: CommunityRef(*row) for row in rows}


@dataclass(frozen=True)
class NewPost:
    """A post a digest may show, as the renderer needs it."""

    publication: int
    id: int
    community_id: int
    thread_id: int
    thread_subject: str
    author: str  # the name shown; never the author's address
    created_at: datetime
    body: str  # the opening BODY_CHARS of its text
    author_id: int | None = None  # None: no member to reply to privately


def new_posts(session: Session, after: int, upto: int) -> list[NewPost]:
    """Posts published after publication ``after`` up to ``upto`` that are still published
    (a post deleted or held again since is left out), in order of publication, leaving out
    imported archives. A post published twice (held again, then approved again) comes
    once, at its latest."""
    rows = session.execute(
        select(
            PostPublication.id,
            Post.id,
            Post.community_id,
            Post.thread_id,
            Thread.subject,
            Post.author_name,
            Post.created_at,
            func.substr(Post.body, 1, BODY_CHARS),
            Post.author_id,
        )
        .join(Post, Post.id == PostPublication.post_id)
        .join(Thread, Thread.id == Post.thread_id)
        .where(
            PostPublication.id > after,
            PostPublication.id <= upto,
            Post.status == PostStatus.published,
            Post.source != IMPORTED,
        )
        .order_by(PostPublication.id)
    )
    latest = {row[1]: NewPost(*row) for row in rows}
    return sorted(latest.values(), key=lambda post: post.publication)


def first_posts(session: Session, thread_ids: Collection[int]) -> dict[int, int]:
    """Thread → its first published post: a thread whose first post is in a digest is new."""
    rows = _chunked(
        thread_ids,
        lambda chunk: session.execute(
            select(Post.thread_id, func.min(Post.id))
            .where(Post.thread_id.in_(chunk), Post.status == PostStatus.published)
            .group_by(Post.thread_id)
        ),
    )
    return dict(rows)


def publication_before(session: Session, moment: datetime) -> int:
    """The newest publication at or before ``moment`` (0 if none): where a member's first
    digest starts, so that it covers one period rather than the whole archive."""
    return session.scalar(select(func.max(PostPublication.id)).where(PostPublication.published_at <= moment)) or 0


# Recording ------------------------------------------------------------------------------


def cutoff(session: Session) -> int:
    """The newest publication a run starting now may cover; in a transaction of its own.

    On SQLite, with one writer at a time, the newest committed row is it. On PostgreSQL a
    publication with a smaller id may still be uncommitted, so the log is locked in SHARE
    mode first: that waits for every transaction that is publishing (each holds ROW
    EXCLUSIVE on the log) to end, and holds new ones off only until the caller commits.
    While a long transaction publishes (a big import), new posts would queue behind the
    lock, so it is given up after a few seconds: the run fails, and the next one tries again.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL lock_timeout = '5s'"))
        session.execute(text(f"LOCK TABLE {PostPublication.__tablename__} IN SHARE MODE"))
    return newest_publication(session)


def newest_publication(session: Session) -> int:
    """The newest publication committed (0 if none); what a preview reads up to."""
    return session.scalar(select(func.max(PostPublication.id))) or 0


def start_run(session: Session, period: Delivery, upto: int) -> int:
    run = DigestRun(period=period, cutoff=upto)
    session.add(run)
    session.flush()
    return run.id


def claim(
    session: Session, period: Delivery, slot_at: datetime, user_ids: Collection[int], high_water: int
) -> set[int]:
    """Move the cursors of ``user_ids`` to ``slot_at`` and ``high_water`` where they are
    still behind both; returns the members whose digest for the slot is now this caller's
    to queue (in the same transaction). Creates cursors for first digests.

    Nearly every member owed a digest has a cursor already, so the cursors are moved
    first and only the members left over get an (insert-or-ignore) cursor and a second
    try: inserting a cursor for every member of a run cost as much as moving them."""
    claimed = _move_cursors(session, period, slot_at, user_ids, high_water)
    missing = set(user_ids) - claimed
    if missing:
        session.execute(
            _insert_or_ignore(session, DigestCursor),
            [{"user_id": user_id, "period": period} for user_id in sorted(missing)],
        )
        claimed |= _move_cursors(session, period, slot_at, missing, high_water)
    return claimed


def _move_cursors(
    session: Session, period: Delivery, slot_at: datetime, user_ids: Collection[int], high_water: int
) -> set[int]:
    if not user_ids:
        return set()
    return set(
        session.scalars(
            update(DigestCursor)
            .where(
                DigestCursor.period == period,
                DigestCursor.user_id.in_(user_ids),
                or_(DigestCursor.slot_at.is_(None), DigestCursor.slot_at < slot_at),
                or_(DigestCursor.high_water.is_(None), DigestCursor.high_water <= high_water),
            )
            .values(slot_at=slot_at, high_water=high_water)
            .returning(DigestCursor.user_id)
            .execution_options(synchronize_session=False)
        )
    )


@dataclass(frozen=True)
class CursorStart:
    user_id: int
    slot_at: datetime
    high_water: int


def start_cursors(session: Session, period: Delivery, starts: Sequence[CursorStart]) -> None:
    """First cursors, without a digest: a member's first digest comes at their next slot
    and covers what was published since ``slot_at``. So someone who turns to daily
    delivery at ten gets their first digest the next morning, not at once, and after an
    upgrade every member's first digest comes at their own hour."""
    session.execute(
        _insert_or_ignore(session, DigestCursor),
        [{"user_id": s.user_id, "period": period, "slot_at": s.slot_at, "high_water": s.high_water} for s in starts],
    )


def store_blocks(session: Session, run_id: int, blocks: Sequence[Block]) -> list[int]:
    """Store blocks of run ``run_id``; their ids, in order."""
    if not blocks:
        return []
    return list(
        session.scalars(
            insert(DigestBlock).returning(DigestBlock.id, sort_by_parameter_order=True),
            [{"run_id": run_id, "text": block.text, "html": block.html} for block in blocks],
        )
    )


PayloadPart = int | tuple[int, str, int]  # a block id, or a block id and the Value of its slot


@dataclass(frozen=True)
class QueuedDigest:
    user_id: int
    address: str
    slot_at: datetime
    subject: str
    slug: str  # the community whose list headers the mail carries
    parts: list[PayloadPart]


def queue(session: Session, period: Delivery, digests: Iterable[QueuedDigest]) -> int:
    """Queue digests for mail delivery; the caller has :func:`claim`-ed them in this transaction."""
    now = utcnow()
    rows = [
        {
            "kind": outbox.DIGEST_EMAIL,
            "dedupe_key": f"digest:{period.value}:{d.user_id}:{d.slot_at:%Y%m%dT%H%M}",
            "user_id": d.user_id,
            "address": d.address,
            "status": OutboxStatus.pending,
            "attempts": 0,
            "payload": {"subject": d.subject, "slug": d.slug, "parts": d.parts},
            "not_before": now,
            "last_error": "",
            "created_at": now,
        }
        for d in digests
    ]
    if rows:
        session.execute(insert(OutboxItem), rows)
        mark_queued(session)
    return len(rows)


def expand(session: Session, signer: Signer, items: list[Claimed]) -> list[Claimed]:
    """``items`` with every digest's parts joined back into ``text`` and ``html``, so mail
    delivery composes it as it composes a notice; other items unchanged.

    A digest whose blocks are gone (its run was pruned, long after delivery gave up on
    it) is marked failed and left out.
    """
    digests = [item for item in items if item.kind == outbox.DIGEST_EMAIL]
    if not digests:
        return items
    wanted = {_block_id(part) for item in digests for part in item.payload["parts"]}
    rows = _chunked(
        wanted,
        lambda chunk: session.execute(
            select(DigestBlock.id, DigestBlock.text, DigestBlock.html).where(DigestBlock.id.in_(chunk))
        ),
    )
    blocks = {row[0]: Block(row[1], row[2]) for row in rows}
    out = []
    for item in items:
        if item.kind != outbox.DIGEST_EMAIL:
            out.append(item)
            continue
        parts = item.payload["parts"]
        if item.user_id is None or any(_block_id(part) not in blocks for part in parts):
            outbox.mark_failed(session, item.id, "the digest's content is no longer stored")
            continue
        body, html = assemble(
            signer,
            item.user_id,
            (
                (blocks[part], None) if isinstance(part, int) else (blocks[part[0]], (part[1], part[2]))
                for part in parts
            ),
        )
        payload = {"subject": item.payload["subject"], "slug": item.payload["slug"], "text": body, "html": html}
        out.append(replace(item, payload=payload))
    return out


def prune(session: Session, now: datetime, keep_runs: timedelta) -> None:
    """Forget publications no digest will reach back to, and runs (with their blocks)
    older than ``keep_runs``: by then mail delivery has sent or given up every digest
    they queued."""
    session.execute(
        delete(PostPublication)
        .where(PostPublication.published_at < now - PUBLICATIONS_KEPT)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(DigestRun).where(DigestRun.started_at < now - keep_runs).execution_options(synchronize_session=False)
    )


def _block_id(part: Any) -> int:
    return part if isinstance(part, int) else part[0]


def _insert_or_ignore(session: Session, model: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(model).on_conflict_do_nothing()


def _chunked(ids: Collection[int], query: Any) -> Iterator[Any]:
    """Rows of ``query(chunk)`` over ``ids`` in chunks, for IN lists of any length."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield from query(ordered[start : start + _CHUNK])
