"""search: the full-text index reads a bounded part of each post's body

Revision ID: 0016
Revises: 0015

Indexing a post took time in proportion to its body, and a message may be 25 MiB: seconds
of work for one post. On PostgreSQL a body of a few megabytes of distinct words could not
be stored at all, its ``tsvector`` being over PostgreSQL's limit of 1 MB. Search now reads
a post's "search text": the body itself up to 110,000 characters (every ordinary post, so
their results are unchanged), else its first 100,000 and last 10,000 characters, the end
being where a reply written below a long untrimmed quote is. At most 110,000 characters
of the densest words make a ``tsvector`` of about half the limit.

The same text is indexed, removed from the index, and shown in results:

* SQLite: ``posts_fts`` takes its content from the view ``post_search_text`` (id, subject,
  the search text as ``body``, community_id) instead of ``posts``, so FTS5 reads the
  same text wherever it reads content (rebuild, highlights, snippets), and its triggers
  give the 'delete' command exactly the values they inserted. The content option is fixed
  when the table is made: the index is made again (about a minute per million posts).
* PostgreSQL: the SQL function ``post_search_text(body)`` makes the text, for the trigger
  and for the headlines of results; only the rows whose body is over the bound are
  indexed again.

Later migrations, beware: on SQLite a batch operation that recreates ``posts`` drops its
triggers and this view; such a migration must create them again (as below).
"""

from __future__ import annotations

import logging

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

WHOLE, HEAD, TAIL = 110_000, 100_000, 10_000  # characters
VIEW = "post_search_text"
_COLUMNS = ("subject", "body", "community_id")
_SQLITE_TRIGGERS = ("posts_fts_update", "posts_fts_delete", "posts_fts_insert")


def _sqlite_text(body: str) -> str:
    return (
        f"CASE WHEN length({body}) <= {WHOLE} THEN {body} "
        f"ELSE substr({body}, 1, {HEAD}) || char(10) || substr({body}, -{TAIL}) END"
    )


def _sqlite_index(content: str, body: str) -> tuple[str, ...]:
    """``posts_fts`` over ``content``, kept by triggers that index ``body`` (an expression of
    the post, ``{0}`` standing for ``new.`` or ``old.``) as its body."""
    names = ", ".join(_COLUMNS)

    def values(row: str) -> str:
        return f"{row}.subject, {body.format(row + '.')}, {row}.community_id"

    delete = f"INSERT INTO posts_fts(posts_fts, rowid, {names}) VALUES ('delete', old.id, {values('old')});"
    insert = f"INSERT INTO posts_fts(rowid, {names}) VALUES (new.id, {values('new')});"
    return (
        *(f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS),
        "DROP TABLE IF EXISTS posts_fts",
        f"CREATE VIRTUAL TABLE posts_fts USING fts5({names}, content='{content}', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN {insert} END",
        f"CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN {delete} END",
        f"CREATE TRIGGER posts_fts_update AFTER UPDATE OF {names} ON posts BEGIN {delete} {insert} END",
        "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",  # index the posts already stored
        "INSERT INTO posts_fts(posts_fts) VALUES ('optimize')",  # in one segment: faster to read
    )


def _postgres_trigger(body: str) -> str:
    vector = (
        f"setweight(to_tsvector('english', NEW.subject), 'A') || "
        f"setweight(to_tsvector('english', {body.format('NEW.')}), 'B')"
    )
    return (
        "CREATE OR REPLACE FUNCTION index_post_for_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO post_search (post_id, community_id, status, search_vector) "
        f"VALUES (NEW.id, NEW.community_id, NEW.status, {vector}) "
        "ON CONFLICT (post_id) DO UPDATE SET community_id = EXCLUDED.community_id, status = EXCLUDED.status, "
        "search_vector = EXCLUDED.search_vector; RETURN NULL; END $$"
    )


def _postgres_reindex_long(body: str) -> str:
    """Index again the posts over the bound (more bytes than WHOLE: at least as many as characters)."""
    vector = (
        f"setweight(to_tsvector('english', p.subject), 'A') || "
        f"setweight(to_tsvector('english', {body.format('p.')}), 'B')"
    )
    return (
        f"UPDATE post_search SET search_vector = {vector} FROM posts p "
        f"WHERE p.id = post_search.post_id AND octet_length(p.body) > {WHOLE}"
    )


_POSTGRES_FUNCTION = (
    f"CREATE FUNCTION {VIEW}(body text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ "
    f"SELECT CASE WHEN length(body) <= {WHOLE} THEN body "
    f"ELSE left(body, {HEAD}) || E'\\n' || right(body, {TAIL}) END $$"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        log.info("rebuilding the full-text index on a bounded text of each post (about a minute per million posts)")
        op.execute(f"CREATE VIEW {VIEW} AS SELECT id, subject, {_sqlite_text('body')} AS body, community_id FROM posts")
        for statement in _sqlite_index(VIEW, _sqlite_text("{0}body")):
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_postgres_trigger(f"{VIEW}({{0}}body)"))
        op.execute(_postgres_reindex_long(f"{VIEW}({{0}}body)"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _sqlite_index("posts", "{0}body"):
            op.execute(statement)
        op.execute(f"DROP VIEW {VIEW}")
    elif dialect == "postgresql":
        op.execute(_postgres_trigger("{0}body"))
        op.execute(_postgres_reindex_long("{0}body"))
        op.execute(f"DROP FUNCTION {VIEW}(text)")
