"""The stored world: communities, people, threads, posts, and the work still to do.

SQLAlchemy 2.0 declarative models. The same schema runs on SQLite (embedded) and
PostgreSQL (scale-out); the Alembic migrations in ``forum/migrations`` create it, and a
test checks that the migrations and these models agree.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use forum.models.utcnow()")
        value = value.astimezone(timezone.utc)
        # SQLite has no zone-aware type: store naive UTC so text comparisons stay ordered.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Visibility(str, enum.Enum):
    public = "public"
    private = "private"


class PostingPolicy(str, enum.Enum):
    members = "members"
    moderated = "moderated"
    open = "open"


class Role(str, enum.Enum):
    member = "member"
    moderator = "moderator"
    facilitator = "facilitator"


class Delivery(str, enum.Enum):
    each = "each"
    daily = "daily"
    weekly = "weekly"
    none = "none"


class MemberStatus(str, enum.Enum):
    active = "active"
    pending = "pending"
    banned = "banned"


class PostStatus(str, enum.Enum):
    published = "published"
    held = "held"
    rejected = "rejected"
    deleted = "deleted"


class InboundStatus(str, enum.Enum):
    pending = "pending"
    done = "done"
    failed = "failed"


class OutboxStatus(str, enum.Enum):
    pending = "pending"
    sending = "sending"
    done = "done"
    failed = "failed"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native ENUM type) so adding a value is a no-op migration.
    return Enum(cls, native_enum=False, create_constraint=False, length=16, validate_strings=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility), default=Visibility.public)
    posting_policy: Mapped[PostingPolicy] = mapped_column(_enum(PostingPolicy), default=PostingPolicy.members)
    subject_prefix: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_private(self) -> bool:
        return self.visibility is Visibility.private


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64))
    digest_hour: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    emails: Mapped[list[UserEmail]] = relationship(back_populates="user", order_by="UserEmail.id")


class UserEmail(Base):
    """An address a person reads or sends from; exactly one per user is primary."""

    __tablename__ = "user_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="emails")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("community_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.member)
    delivery: Mapped[Delivery] = mapped_column(_enum(Delivery), default=Delivery.each)
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus), default=MemberStatus.active)
    bounce_score: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()
    user: Mapped[User] = relationship()


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (
        Index("ix_threads_community_activity", "community_id", "last_activity_at"),
        Index("ix_threads_community_subject", "community_id", "subject_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(500))
    # normalize_subject(subject): what a "Re:" subject is matched against
    subject_key: Mapped[str] = mapped_column(String(500))
    # first 22 bytes of Outlook's Thread-Index (base64): the conversation it belongs to
    conversation_index: Mapped[str | None] = mapped_column(String(40), index=True)
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("community_id", "message_id"),
        Index("ix_posts_thread_created", "thread_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    author_name: Mapped[str] = mapped_column(String(200), default="")
    author_email: Mapped[str] = mapped_column(String(320), default="")
    message_id: Mapped[str] = mapped_column(String(998))
    # The Message-ID this post answers, kept even when that post is not (yet) stored.
    reply_to_message_id: Mapped[str | None] = mapped_column(String(998))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)  # the new text, shown and forwarded
    quoted: Mapped[str] = mapped_column(Text, default="")  # trimmed quotes/signature, folded on the web
    html: Mapped[str | None] = mapped_column(Text)  # sanitized HTML of the new text
    source: Mapped[str] = mapped_column(String(16))  # email, web, slack, matrix, import
    source_ref: Mapped[str | None] = mapped_column(String(200))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id", ondelete="SET NULL"))
    status: Mapped[PostStatus] = mapped_column(_enum(PostStatus), default=PostStatus.published)
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    thread: Mapped[Thread] = relationship()
    community: Mapped[Community] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="post", order_by="Attachment.id")


class PostReference(Base):
    """A Message-ID a post names in In-Reply-To/References (position 0 = the oldest).

    Kept for every reference, stored or not, so that replies to a message we never got
    still share a thread (they name the same missing ancestor), and so that a reply which
    arrived before its parent or grandparent is re-linked when that one comes.
    """

    __tablename__ = "post_references"
    __table_args__ = (Index("ix_post_references_lookup", "community_id", "message_id"),)

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(998))


class Attachment(Base):
    """A file carried by a post; the bytes live in the blob store under their sha256."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    content_id: Mapped[str | None] = mapped_column(String(255))

    post: Mapped[Post] = relationship(back_populates="attachments")


class InboundMessage(Base):
    """Raw mail exactly as received, stored before the gateway answers 250.

    It is the durable spool (a crash after 250 loses nothing: pending rows are processed
    on start) and the untouched original of every emailed post.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    channel: Mapped[str] = mapped_column(String(16), default="smtp")  # smtp, lmtp, imap
    mail_from: Mapped[str] = mapped_column(String(320), default="")
    rcpt_to: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[InboundStatus] = mapped_column(_enum(InboundStatus), default=InboundStatus.pending)
    outcome: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxItem(Base):
    """One unit of outgoing work (a personal copy of a post, a notice, a chat message).

    Written in the same transaction as the post it serves, so a post is never stored
    without its fan-out nor fanned out without being stored. ``dedupe_key`` makes
    enqueueing idempotent; the worker's lease (``claimed_until``) makes a crashed
    worker's items claimable again.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        UniqueConstraint("dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # post_email, notice_email, ...
    dedupe_key: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
