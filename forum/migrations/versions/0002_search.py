"""full-text search over posts; posts by community and date

Revision ID: 0002
Revises: 0001

Search (forum.search) needs an index of every post's subject and body, built differently
on each database:

* SQLite: an FTS5 table ``posts_fts`` with external content (it stores the index, not a
  second copy of the text), kept in step with ``posts`` by triggers, so every way a post
  is written is indexed without the code that writes it knowing. The update trigger fires
  only when the subject or body changes: publishing, moderating and merging threads touch
  other columns and leave the index alone. Porter stemming, as PostgreSQL's english
  configuration stems.
* PostgreSQL: a stored generated ``tsvector`` column with a GIN index (declared in
  forum.models, where ``info["dialects"]`` keeps it out of SQLite's schema comparison).

Later migrations, beware: on SQLite a batch operation that recreates ``posts`` drops its
triggers; such a migration must create them again (as below) and rebuild the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE_UP = (
    (
        "CREATE VIRTUAL TABLE posts_fts USING fts5(subject, body, content='posts', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    ),
    (
        "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN "
        "INSERT INTO posts_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body); END"
    ),
    (
        "CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN "
        "INSERT INTO posts_fts(posts_fts, rowid, subject, body) VALUES ('delete', old.id, old.subject, old.body); END"
    ),
    (
        "CREATE TRIGGER posts_fts_update AFTER UPDATE OF subject, body ON posts BEGIN "
        "INSERT INTO posts_fts(posts_fts, rowid, subject, body) VALUES ('delete', old.id, old.subject, old.body); "
        "INSERT INTO posts_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body); END"
    ),
    "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",  # index the posts already stored
)
_SQLITE_DOWN = (
    "DROP TRIGGER posts_fts_update",
    "DROP TRIGGER posts_fts_delete",
    "DROP TRIGGER posts_fts_insert",
    "DROP TABLE posts_fts",
)
_POSTGRES_VECTOR = "setweight(to_tsvector('english', subject), 'A') || setweight(to_tsvector('english', body), 'B')"


def upgrade() -> None:
    op.create_index("ix_posts_community_created", "posts", ["community_id", "created_at"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.add_column(
            "posts",
            sa.Column(
                "search_vector",
                postgresql.TSVECTOR(),
                sa.Computed(_POSTGRES_VECTOR, persisted=True),
                nullable=True,
            ),
        )
        op.create_index("ix_posts_search_vector", "posts", ["search_vector"], unique=False, postgresql_using="gin")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    elif dialect == "postgresql":
        op.drop_index("ix_posts_search_vector", table_name="posts")
        op.drop_column("posts", "search_vector")
    op.drop_index("ix_posts_community_created", table_name="posts")
