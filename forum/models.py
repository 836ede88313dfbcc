"""The stored world: communities, people, threads, posts, and the work still to do.

SQLAlchemy 2.0 declarative models. The same schema runs on SQLite (embedded) and
PostgreSQL (scale-out); the Alembic migrations in ``forum/migrations`` create it, and a
test checks that the migrations and these models agree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
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
    false,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
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
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use forum.models.utcnow()")
        value = value.astimezone(UTC)
        # SQLite has no zone-aware type: store naive UTC so text comparisons stay ordered.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Visibility(str, enum.Enum):
    """Who sees a community: ``public`` is listed and readable by anyone, and joined at
    once; ``restricted`` is listed by name and purpose, its content is for members, and
    joining is a request that its facilitators decide (``forum.join_requests``);
    ``private`` is invisible to non-members and joined by invitation only
    (``forum.invitations``)."""

    public = "public"
    restricted = "restricted"
    private = "private"


class PostingPolicy(str, enum.Enum):
    members = "members"
    moderated = "moderated"
    open = "open"
    announce = "announce"  # only facilitators and moderators post


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
    deleted = "deleted"  # by its author: the thread shows that a post was here
    hidden = "hidden"  # by a facilitator: out of every reader's sight, kept for the record


class InboundStatus(str, enum.Enum):
    pending = "pending"
    done = "done"
    failed = "failed"
    shunted = "shunted"  # set aside: processing it took too long (``listbridge shunt retry``)


class RequestStatus(str, enum.Enum):
    """Where a request stands: to join a restricted community, or for a new community."""

    unconfirmed = "unconfirmed"  # asked by a visitor whose address is not proven yet (joining only)
    pending = "pending"  # with those who decide
    approved = "approved"
    declined = "declined"


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
    # "always" or "never" overrides [smtp_in] require_authentication; "" follows it.
    require_authentication: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # "en", "cy" or "bilingual" (forum.languages): the language of its pages and of our mail.
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    # A short label the catalogue filters by ("Housing"); "" for none (forum.catalogue).
    category: Mapped[str] = mapped_column(String(60), default="", server_default="")
    # Set when a site administrator archives it: still readable, no new posts by any door.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A member's first N published posts are held for review; 0: nobody's are.
    moderate_new: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_private(self) -> bool:
        return self.visibility is Visibility.private

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_public(self) -> bool:
        return self.visibility is Visibility.public


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64))
    digest_hour: Mapped[int | None] = mapped_column(Integer)
    # "en" or "cy" (forum.languages); None until they choose: the web follows their browser.
    language: Mapped[str | None] = mapped_column(String(8))
    # Every mail to them a single text/plain part: screen readers and some councils' mail
    # systems read nothing else well.
    plain_text: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Part of every sign-in link; using a link bumps it, so each link works once.
    login_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Runs the site: decides requests for new communities, edits and archives any community
    # (``listbridge site admin add``; forum.site_admins).
    is_site_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    emails: Mapped[list[UserEmail]] = relationship(back_populates="user", order_by="UserEmail.id")


class ProfileVisibility(str, enum.Enum):
    """Who sees a member's profile (``forum.profiles``)."""

    shared = "shared"  # members of a community they are in too
    members = "members"  # everyone signed in
    nobody = "nobody"


class Profile(Base):
    """What a member says about their work, for others to find them by (``forum.profiles``).

    A member without a row has the defaults: an empty profile shown to the members they
    share a community with, address hidden.
    """

    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(200), default="", server_default="")
    job_title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    region: Mapped[str] = mapped_column(String(200), default="", server_default="")  # or local authority
    bio: Mapped[str] = mapped_column(Text, default="", server_default="")
    links: Mapped[str] = mapped_column(Text, default="", server_default="")  # one web address a line
    photo_sha256: Mapped[str | None] = mapped_column(String(64))  # in the blob store
    visibility: Mapped[ProfileVisibility] = mapped_column(
        _enum(ProfileVisibility), default=ProfileVisibility.shared, server_default="shared"
    )
    show_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ExpertiseTag(Base):
    """An area of expertise, site-wide: the list grows as members name new ones. ``key`` is
    the label folded (case, accents, spaces), so "Damp and Mould" and "damp and mould" are one."""

    __tablename__ = "expertise_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    label: Mapped[str] = mapped_column(String(100))


class UserExpertise(Base):
    __tablename__ = "user_expertise"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("expertise_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class BrowserSession(Base):
    """A browser signed in as a user: the web's session cookie names it, by a secret key
    whose hash is stored here, and ending the session deletes the row (see
    ``forum.browser_sessions``)."""

    __tablename__ = "browser_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UserEmail(Base):
    """An address a person reads or sends from; exactly one per user is primary."""

    __tablename__ = "user_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="emails")


class PendingEmail(Base):
    """An address a user asked to add, kept here until a link mailed to it is followed.

    Unproven addresses never enter ``user_emails``: everything that looks people up by
    address (posting by mail, sign-in links, adding members) sees only proven ones, and
    claiming someone else's address reserves nothing.
    """

    __tablename__ = "pending_emails"
    __table_args__ = (UniqueConstraint("user_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateLimitHit(Base):
    """One counted event (a sign-in link asked for …) under a hashed key, kept for an hour or so.

    In the database rather than in memory so that every worker process shares the count;
    keys are HMACs, so the table holds no addresses or IP addresses in the clear.
    """

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_lookup", "bucket", "key", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
    # Bounces (forum.bounces): the last one counted and what the remote server said; when
    # the score passed the threshold, delivery became "none" and the member's own choice
    # waits in delivery_before_bounces until they (or a facilitator) re-enable it.
    last_bounce_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounce_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    bounce_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_before_bounces: Mapped[Delivery | None] = mapped_column(_enum(Delivery))
    # Whether the member's own address is shown to the community's other members (their
    # "reply privately" links write to it directly); by default they go through the relay.
    show_address: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()
    user: Mapped[User] = relationship()


class CommunityRequest(Base):
    """A member's request for a new community, until a site administrator decides it.

    Kept after the decision (with who decided, when and why), so the requester and the
    administrators can see what became of it; an approved one names the community made.
    """

    __tablename__ = "community_requests"
    __table_args__ = (Index("ix_community_requests_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(60), default="")
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility), default=Visibility.public)
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus), default=RequestStatus.pending)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class SubscriptionRequest(Base):
    """A join or leave asked for by email (or a join asked for on the web), waiting for the
    reply or the link that confirms it.

    Kept here rather than in the token because a token carries numbers, not an address;
    the confirmation token names this row, and confirming deletes it.
    """

    __tablename__ = "subscription_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(16))  # subscribe, unsubscribe
    # What a join asked for on the web chose to receive; None (asked by email): every post.
    delivery: Mapped[Delivery | None] = mapped_column(_enum(Delivery))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JoinRequest(Base):
    """Someone asking to join a restricted community, with their reason: the facilitators
    approve or decline it (``forum.join_requests``); the requester is told either way.

    A visitor who is not signed in gives an address: the request waits ``unconfirmed``,
    with no user, until a link mailed to that address is followed."""

    __tablename__ = "join_requests"
    __table_args__ = (Index("ix_join_requests_community_status", "community_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    delivery: Mapped[Delivery] = mapped_column(_enum(Delivery), default=Delivery.each)
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus), default=RequestStatus.pending)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answer: Mapped[str] = mapped_column(Text, default="")  # the facilitator's message to the requester


class InvitationStatus(str, enum.Enum):
    pending = "pending"
    accepted = "accepted"
    withdrawn = "withdrawn"


class Invitation(Base):
    """An address invited into a community by its facilitators: a personal link, whose
    secret is stored only as a hash, joins it in one click until it expires
    (``forum.invitations``)."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_community_email", "community_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[InvitationStatus] = mapped_column(_enum(InvitationStatus), default=InvitationStatus.pending)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    # Shown first on the community page, above the latest activity.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while a facilitator has hidden the whole thread: its posts, and replies that
    # still come to it, are hidden (forum.takedown).
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    community: Mapped[Community] = relationship()


# Objects one database has and the other does not: ``info["dialects"]`` tells the schema
# comparison so (forum.schema.comparison_options).
SQLITE_ONLY = {"dialects": ("sqlite",)}
POSTGRESQL_ONLY = {"dialects": ("postgresql",)}


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("community_id", "message_id"),
        Index("ix_posts_thread_created", "thread_id", "created_at"),
        Index("ix_posts_community_created", "community_id", "created_at"),  # feeds, mbox export
        # SQLite's search reads a post's community and status here (migration 0009).
        Index("ix_posts_search_scope", "id", "community_id", "status", info=SQLITE_ONLY),
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
    quoted: Mapped[str] = mapped_column(Text, default="")  # trimmed quotes, folded on the web
    # The sender's signature block and disclaimers, folded on the web, left out of copies.
    signature: Mapped[str] = mapped_column(Text, default="", server_default="")
    html: Mapped[str | None] = mapped_column(Text)  # sanitized HTML of the new text
    source: Mapped[str] = mapped_column(String(16))  # email, web, slack, matrix, import
    # "cy", "en" or "" (unknown): what it is written in (forum.post_language), as search indexes it.
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")
    source_ref: Mapped[str | None] = mapped_column(String(200))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id", ondelete="SET NULL"))
    status: Mapped[PostStatus] = mapped_column(_enum(PostStatus), default=PostStatus.published)
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    thread: Mapped[Thread] = relationship()
    community: Mapped[Community] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="post", order_by="Attachment.id")


# Full-text search on PostgreSQL (forum.search): each post's tsvector, computed from the
# subject (weight A) and the body (weight B), in a narrow table of its own kept by triggers
# on posts (migration 0008), with what the privacy filter needs beside it. Searching tests
# and ranks thousands of vectors; kept in the post's row they were stored out of line
# (TOAST, the row being too wide), costing several page reads each; here each is in line
# with its post's id, so a search never reads ``posts`` but for the page it shows. A BRIN
# index on the ids lets a search read the newest matches in id windows at almost no cost.
# It exists on PostgreSQL only (SQLite searches an FTS5 table kept by triggers instead).
# Each post is indexed in the text search configuration of its language (migration 0018):
# a Welsh post's words as written (no English stemming), an English or unknown one's
# stemmed as English; both with accents folded (unaccent), so "dwr" finds "dŵr".
ENGLISH_SEARCH = "search_english"
WELSH_SEARCH = "search_welsh"
SEARCH_CONFIG = "post_search_config"  # SQL function: a post's language -> its configuration
# What search reads of a post's body, so that indexing a huge post costs no more than a long
# one (migration 0016): the body up to 110,000 characters, else its first 100,000 and last
# 10,000. On SQLite the view that ``posts_fts`` indexes (``post_search_text_cy`` for
# ``posts_fts_cy``, migration 0018), on PostgreSQL a function of the body.
SEARCH_TEXT = "post_search_text"
# What a post's vector is computed from, as its triggers compute it (migrations 0008, 0016, 0018).
POSTGRES_SEARCH_VECTOR = (
    f"setweight(to_tsvector({SEARCH_CONFIG}(language), subject), 'A') || "
    f"setweight(to_tsvector({SEARCH_CONFIG}(language), {SEARCH_TEXT}(body)), 'B')"
)


class PostSearch(Base):
    __tablename__ = "post_search"
    __table_args__ = (
        Index("ix_post_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_post_search_post_id_brin", "post_id", postgresql_using="brin"),
        Index("ix_post_search_community", "community_id", "post_id"),  # a community's newest first
        {"info": POSTGRESQL_ONLY},
    )

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[int] = mapped_column()  # posts.community_id, for the privacy filter
    status: Mapped[PostStatus] = mapped_column(_enum(PostStatus))  # posts.status, likewise
    language: Mapped[str] = mapped_column(String(8), server_default="")  # posts.language: its configuration
    search_vector: Mapped[Any] = mapped_column(TSVECTOR)


class ThreadRedirect(Base):
    """A thread merged into another (its replies had come before their parent): its old
    address, in the ``Archived-At`` headers and links already mailed out, leads on."""

    __tablename__ = "thread_redirects"

    old_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)


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
    # Where it was fetched from (an IMAP URL with UIDVALIDITY and UID): never stored twice.
    source_ref: Mapped[str | None] = mapped_column(String(500), unique=True)
    client_ip: Mapped[str | None] = mapped_column(String(45))  # the SMTP client, for SPF
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


class PostPublication(Base):
    """A post becoming visible to readers: the ordered log digests read "what is new" from.

    Database triggers (migration 0006) write a row whenever a post is stored published or a
    held post is approved, so every door that publishes is logged without knowing about
    digests. Neither a post's id nor its date would do: a held post is published long after
    it was created, and on PostgreSQL a smaller id can commit after a larger one. The id
    is what a member's digest high-water mark counts (see ``forum.digests``).
    """

    __tablename__ = "post_publications"
    # Ids are never reused, not even the newest after a delete: a high-water mark may name it.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DigestCursor(Base):
    """How far one member's daily (or weekly) digests have got: the slot of the last one
    and its high-water mark, the newest publication it covered.

    Moved forward in the transaction that queues the digest, and only when still behind
    the slot, so a digest goes out once per member and slot whoever builds it.
    """

    __tablename__ = "digest_cursors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[Delivery] = mapped_column(_enum(Delivery), primary_key=True)
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: no digest yet
    high_water: Mapped[int | None] = mapped_column(BigInteger)


class DigestRun(Base):
    """One pass that built digests: its period, when it started and the publication it read
    up to. The blocks its digests are made of belong to it."""

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[Delivery] = mapped_column(_enum(Delivery))
    cutoff: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DigestBlock(Base):
    """A piece of rendered digest (plain text and HTML) that every digest showing it shares.

    Most of one member's digest is the same as the next member's: the same posts, rendered
    once per time zone. A queued digest names its blocks instead of repeating them, which
    keeps a run's outbox rows small (see ``forum.digests``).
    """

    __tablename__ = "digest_blocks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("digest_runs.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)


class ChatLink(Base):
    """A community linked to one chat channel (a Slack channel id, a Matrix room id).

    A channel belongs to one community at most, so an inbound message has one home; a
    community may have several channels (a Slack channel and a Matrix room at once).
    ``cursor`` is where the platform's event stream was last read (Matrix's sync token),
    so events sent while the bridge was down are read on start, not lost.
    """

    __tablename__ = "chat_links"
    __table_args__ = (UniqueConstraint("platform", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))  # slack, matrix
    channel: Mapped[str] = mapped_column(String(255))
    cursor: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatThread(Base):
    """A forum thread ↔ the chat message that roots its thread in one linked channel."""

    __tablename__ = "chat_threads"
    __table_args__ = (UniqueConstraint("link_id", "thread_id"), UniqueConstraint("link_id", "root_ref"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("chat_links.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    root_ref: Mapped[str] = mapped_column(String(255))  # Slack ts, Matrix event id


class ChatMessage(Base):
    """A post ↔ its copy in one linked channel: how replies find their parent, edits and
    deletions find their message, and echoes are recognised (by id, never by text).

    ``ours`` says the bridge wrote the chat message (it may edit and delete it); a message
    a person wrote in chat is mapped too, with ``ours`` false, so it is never copied back.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("link_id", "message_ref"), UniqueConstraint("link_id", "post_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("chat_links.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    message_ref: Mapped[str] = mapped_column(String(255))
    ours: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModerationEntry(Base):
    """One thing done to a community's content or members, kept for the record: who did
    it (their id, and their name as it was then), when, what, to which post, thread or
    member, and why. Written in the transaction of the action itself (forum.moderation_log);
    an edit keeps the text it replaced in ``detail``."""

    __tablename__ = "moderation_log"
    __table_args__ = (Index("ix_moderation_log_community", "community_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    # None: done on the command line, by whoever runs the site.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(16))  # forum.moderation_log.LogAction
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="SET NULL"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What the target was called then (a post's subject, a member's name), for when it is gone.
    target_name: Mapped[str] = mapped_column(String(500), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class PostReport(Base):
    """A member telling the facilitators that a post should not be there, and why; open
    until a facilitator hides the post or dismisses the report."""

    __tablename__ = "post_reports"
    __table_args__ = (
        UniqueConstraint("post_id", "reporter_id"),
        Index("ix_post_reports_open", "community_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolution: Mapped[str] = mapped_column(String(16), default="")  # "hidden" or "dismissed"
