"""digests: the publication log, members' high-water marks, runs and their shared blocks

Revision ID: 0006
Revises: 0005

``post_publications`` is written by triggers, on SQLite and PostgreSQL alike, whenever a
post is stored published or changes to published (a held post approved): every way a post
is published is logged without the code that publishes knowing. The posts of the last
week are logged on upgrade, so that members' first digests cover them.

Later migrations, beware: on SQLite a batch operation that recreates ``posts`` drops its
triggers; such a migration must create them again (as below).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import forum.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# strftime's %f is seconds with milliseconds; three more digits make the stored form of
# forum.models.UTCDateTime on SQLite, so that text comparisons stay ordered.
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
_SQLITE_UP = (
    (
        "CREATE TRIGGER posts_published_insert AFTER INSERT ON posts WHEN new.status = 'published' BEGIN "
        f"INSERT INTO post_publications (post_id, published_at) VALUES (new.id, {_SQLITE_NOW}); END"
    ),
    (
        "CREATE TRIGGER posts_published_update AFTER UPDATE OF status ON posts "
        "WHEN new.status = 'published' AND old.status <> 'published' BEGIN "
        f"INSERT INTO post_publications (post_id, published_at) VALUES (new.id, {_SQLITE_NOW}); END"
    ),
)
_SQLITE_DOWN = ("DROP TRIGGER posts_published_update", "DROP TRIGGER posts_published_insert")
_POSTGRES_UP = (
    (
        "CREATE FUNCTION log_post_publication() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO post_publications (post_id, published_at) VALUES (NEW.id, now()); RETURN NULL; END $$"
    ),
    (
        "CREATE TRIGGER posts_published_insert AFTER INSERT ON posts FOR EACH ROW "
        "WHEN (NEW.status = 'published') EXECUTE FUNCTION log_post_publication()"
    ),
    (
        "CREATE TRIGGER posts_published_update AFTER UPDATE OF status ON posts FOR EACH ROW "
        "WHEN (NEW.status = 'published' AND OLD.status <> 'published') EXECUTE FUNCTION log_post_publication()"
    ),
)
_POSTGRES_DOWN = (
    "DROP TRIGGER posts_published_update ON posts",
    "DROP TRIGGER posts_published_insert ON posts",
    "DROP FUNCTION log_post_publication()",
)
_BACKFILL_DAYS = 7  # the longest digest period


def upgrade() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "period",
            sa.Enum("each", "daily", "weekly", "none", name="delivery", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("cutoff", sa.BigInteger(), nullable=False),
        sa.Column("started_at", forum.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_runs")),
    )
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "digest_blocks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["digest_runs.id"], name=op.f("fk_digest_blocks_run_id_digest_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_blocks")),
    )
    with op.batch_alter_table("digest_blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_blocks_run_id"), ["run_id"], unique=False)

    op.create_table(
        "digest_cursors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "period",
            sa.Enum("each", "daily", "weekly", "none", name="delivery", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("slot_at", forum.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("high_water", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_digest_cursors_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period", name=op.f("pk_digest_cursors")),
    )
    op.create_table(
        "post_publications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("published_at", forum.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_publications_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_publications")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("post_publications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_publications_post_id"), ["post_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_post_publications_published_at"), ["published_at"], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _POSTGRES_UP if dialect == "postgresql" else ():
        op.execute(statement)
    since = datetime.now(UTC) - timedelta(days=_BACKFILL_DAYS)
    op.execute(
        sa.text(
            "INSERT INTO post_publications (post_id, published_at) SELECT id, created_at FROM posts "
            "WHERE status = 'published' AND created_at >= :since ORDER BY created_at, id"
        ).bindparams(sa.bindparam("since", since, type_=forum.models.UTCDateTime()))
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_DOWN if dialect == "sqlite" else _POSTGRES_DOWN if dialect == "postgresql" else ():
        op.execute(statement)
    with op.batch_alter_table("post_publications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_publications_published_at"))
        batch_op.drop_index(batch_op.f("ix_post_publications_post_id"))

    op.drop_table("post_publications")
    op.drop_table("digest_cursors")
    with op.batch_alter_table("digest_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_blocks_run_id"))

    op.drop_table("digest_blocks")
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_runs_started_at"))

    op.drop_table("digest_runs")
