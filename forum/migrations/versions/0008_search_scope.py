"""search: what the privacy filter needs next to the full-text index

Revision ID: 0008
Revises: 0007

A search reads the newest matches of its words, a thousand of them, and keeps those the
searcher may read: published posts of communities they may read, or of the one community
they search. What this needs is now where the search is:

* SQLite: ``posts_fts`` indexes each post's ``community_id`` as a third column, so that a
  search within a community is one FTS5 query (the word's matches AND the community's
  posts) instead of reading the word's matches across the site until enough are in the
  community (rebuilt here: about a minute per million posts). Queries search the subject
  and body columns only, so no word typed can match a community's number.
* PostgreSQL: each post's ``tsvector`` moves from a generated column of ``posts`` into a
  narrow table of its own, ``post_search``, next to the post's community and status,
  kept by triggers on posts. In ``posts`` the vector was stored out of line (TOAST, the
  row being too wide), so testing or ranking a match read several pages; here it is in
  line. The vectors already computed are copied, not computed again (about 20 s per
  million posts, and the GIN index about a minute). A BRIN index on the post ids lets a
  search read the newest matches in windows of ids for almost nothing.

Later migrations, beware: on SQLite a batch operation that recreates ``posts`` drops its
triggers; such a migration must create them again (as below) and rebuild the index.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_SQLITE_TRIGGERS = ("posts_fts_update", "posts_fts_delete", "posts_fts_insert")


def _sqlite_index(columns: tuple[str, ...], changed_by: tuple[str, ...]) -> tuple[str, ...]:
    """The statements that make ``posts_fts`` index ``columns`` of posts, kept by triggers."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    delete = f"INSERT INTO posts_fts(posts_fts, rowid, {names}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO posts_fts(rowid, {names}) VALUES (new.id, {new});"
    return (
        *(f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS),
        "DROP TABLE IF EXISTS posts_fts",
        f"CREATE VIRTUAL TABLE posts_fts USING fts5({names}, content='posts', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN {insert} END",
        f"CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN {delete} END",
        f"CREATE TRIGGER posts_fts_update AFTER UPDATE OF {', '.join(changed_by)} ON posts BEGIN {delete} {insert} END",
        "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",  # index the posts already stored
        "INSERT INTO posts_fts(posts_fts) VALUES ('optimize')",  # in one segment: faster to read
    )


_POSTGRES_VECTOR = (
    "setweight(to_tsvector('english', {0}subject), 'A') || setweight(to_tsvector('english', {0}body), 'B')"
)
_POSTGRES_UP = (
    "ALTER TABLE post_search ALTER COLUMN search_vector SET STORAGE MAIN",  # in line, compressed if need be
    "INSERT INTO post_search (post_id, community_id, status, search_vector) "
    "SELECT id, community_id, status, search_vector FROM posts ORDER BY id",
    "SET LOCAL maintenance_work_mem = '256MB'",  # the GIN index builds several times faster
    "CREATE INDEX ix_post_search_vector ON post_search USING gin (search_vector)",
    "CREATE INDEX ix_post_search_post_id_brin ON post_search USING brin (post_id)",
    "CREATE INDEX ix_post_search_community ON post_search (community_id, post_id)",
    "ANALYZE post_search",  # the planner needs its words' frequencies from the first search
    "DROP INDEX ix_posts_search_vector",
    "ALTER TABLE posts DROP COLUMN search_vector",
    (
        "CREATE FUNCTION index_post_for_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO post_search (post_id, community_id, status, search_vector) "
        f"VALUES (NEW.id, NEW.community_id, NEW.status, {_POSTGRES_VECTOR.format('NEW.')}) "
        "ON CONFLICT (post_id) DO UPDATE SET community_id = EXCLUDED.community_id, status = EXCLUDED.status, "
        "search_vector = EXCLUDED.search_vector; RETURN NULL; END $$"
    ),
    "CREATE TRIGGER posts_search_insert AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION index_post_for_search()",
    (
        "CREATE TRIGGER posts_search_update AFTER UPDATE OF subject, body, community_id, status ON posts "
        "FOR EACH ROW EXECUTE FUNCTION index_post_for_search()"
    ),
)
_POSTGRES_DOWN = (
    "DROP TRIGGER posts_search_update ON posts",
    "DROP TRIGGER posts_search_insert ON posts",
    "DROP FUNCTION index_post_for_search()",
    f"ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({_POSTGRES_VECTOR.format('')}) STORED",
    "CREATE INDEX ix_posts_search_vector ON posts USING gin (search_vector)",
    "DROP TABLE post_search",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        log.info("rebuilding the full-text index with each post's community (about a minute per million posts)")
        for statement in _sqlite_index(("subject", "body", "community_id"), ("subject", "body", "community_id")):
            op.execute(statement)
    elif dialect == "postgresql":
        op.create_table(
            "post_search",
            sa.Column("post_id", sa.Integer(), nullable=False),
            sa.Column("community_id", sa.Integer(), nullable=False),
            sa.Column(
                "status",
                sa.Enum("published", "held", "rejected", "deleted", name="poststatus", native_enum=False, length=16),
                nullable=False,
            ),
            sa.Column("search_vector", postgresql.TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(
                ["post_id"], ["posts.id"], name=op.f("fk_post_search_post_id_posts"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("post_id", name=op.f("pk_post_search")),
        )
        log.info("moving the search vectors of posts into post_search (about a minute per million posts)")
        for statement in _POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _sqlite_index(("subject", "body"), ("subject", "body")):
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _POSTGRES_DOWN:
            op.execute(statement)
