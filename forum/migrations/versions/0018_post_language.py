"""each post's language; Welsh posts searched without English stemming, accents folded

Revision ID: 0018
Revises: 0017

``posts.language`` is "cy", "en" or "" (unknown), set by the one door
(forum.post_language). Posts already stored are given theirs here, in batches, by the same
detector, which reads at most the first 1,000 characters of each.

Search then indexes each post in the way of its language:

* SQLite: English and unknown posts stay in ``posts_fts`` (Porter stemming, accents
  folded); Welsh posts move to ``posts_fts_cy``, the same but without stemming, which would
  make English words of Welsh ones ("dros", over, would be found as "dro", a turn). Each
  takes its text from a view of its own posts (``post_search_text``, now of the posts not
  in Welsh, and ``post_search_text_cy``); the triggers write each post to the table of its
  language, and move it when its language changes. Both are made again here (about a
  minute per million posts).
* PostgreSQL: two text search configurations, ``search_english`` (english, with unaccent
  before the stemmer) and ``search_welsh`` (simple with unaccent: words as written, accents
  folded), the extension unaccent (in PostgreSQL's contrib, a trusted extension: the
  database's owner may create it). ``post_search_config(language)`` picks one for a post;
  ``post_search`` keeps the post's language so that a search matches each post in its own
  configuration. Every vector is computed again (about a minute per million posts).

Later migrations, beware: on SQLite a batch operation that recreates ``posts`` drops its
triggers and the views; such a migration must create them again (as below).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from forum.post_language import DETECTED_CHARS, post_language

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

BATCH = 1000
VIEW = "post_search_text"
WELSH_VIEW = "post_search_text_cy"
_COLUMNS = ("subject", "body", "community_id")
_SQLITE_TRIGGERS = ("posts_fts_update", "posts_fts_delete", "posts_fts_insert")
_STEMMED = "porter unicode61 remove_diacritics 2"
_UNSTEMMED = "unicode61 remove_diacritics 2"
# The bounded text of a body (migration 0016), ``{0}`` standing for ``new.`` or ``old.``.
_SQLITE_TEXT = (
    "CASE WHEN length({0}body) <= 110000 THEN {0}body "
    "ELSE substr({0}body, 1, 100000) || char(10) || substr({0}body, -10000) END"
)


def _sqlite_tables(tables: dict[str, tuple[str, str, str]], changed_by: tuple[str, ...]) -> tuple[str, ...]:
    """The statements that make each full-text table (name -> (tokenizer, its content view,
    which posts it holds: a condition on a row of posts, ``{0}`` standing for ``new.``,
    ``old.`` or nothing)), kept by triggers, and fill them."""
    names = ", ".join(_COLUMNS)

    def values(row: str) -> str:
        return f"{row}.subject, {_SQLITE_TEXT.format(row + '.')}, {row}.community_id"

    inserts, deletes = [], []
    for table, (_tokenizer, _view, which) in tables.items():
        inserts.append(
            f"INSERT INTO {table}(rowid, {names}) SELECT new.id, {values('new')} WHERE {which.format('new.')};"
        )
        deletes.append(
            f"INSERT INTO {table}({table}, rowid, {names}) "
            f"SELECT 'delete', old.id, {values('old')} WHERE {which.format('old.')};"
        )
    insert, delete = " ".join(inserts), " ".join(deletes)
    return (
        *(f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS),
        *(f"DROP TABLE IF EXISTS {table}" for table in ("posts_fts", "posts_fts_cy")),
        *(f"DROP VIEW IF EXISTS {view}" for view in (VIEW, WELSH_VIEW)),
        *(
            f"CREATE VIEW {view} AS SELECT id, subject, {_SQLITE_TEXT.format('')} AS body, community_id "
            f"FROM posts WHERE {which.format('')}"
            for _tokenizer, view, which in tables.values()
        ),
        *(
            f"CREATE VIRTUAL TABLE {table} USING fts5({names}, content='{view}', content_rowid='id', "
            f"tokenize='{tokenizer}')"
            for table, (tokenizer, view, _which) in tables.items()
        ),
        f"CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN {insert} END",
        f"CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN {delete} END",
        f"CREATE TRIGGER posts_fts_update AFTER UPDATE OF {', '.join(changed_by)} ON posts BEGIN {delete} {insert} END",
        *(f"INSERT INTO {table}({table}) VALUES ('rebuild')" for table in tables),  # the posts already stored
        *(f"INSERT INTO {table}({table}) VALUES ('optimize')" for table in tables),  # one segment: faster to read
    )


_ENGLISH = "'english'"  # the configuration every post was indexed in before
# Search configurations: a post's words through unaccent, then the stemmer (or as written).
_POSTGRES_CONFIGS = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION search_english (COPY = english)",
    "ALTER TEXT SEARCH CONFIGURATION search_english ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem",
    "CREATE TEXT SEARCH CONFIGURATION search_welsh (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION search_welsh ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple",
    (
        "CREATE FUNCTION post_search_config(language text) RETURNS regconfig LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        "AS $$ SELECT CASE WHEN language = 'cy' THEN 'search_welsh'::regconfig ELSE 'search_english'::regconfig END $$"
    ),
)


def _postgres_vector(row: str, config: str) -> str:
    return (
        f"setweight(to_tsvector({config}, {row}subject), 'A') || "
        f"setweight(to_tsvector({config}, {VIEW}({row}body)), 'B')"
    )


def _postgres_trigger(with_language: bool) -> tuple[str, ...]:
    """The function and update trigger that index a post: by its language's configuration
    (``with_language``) or, as before, all as English."""
    if with_language:
        columns, values = "community_id, status, language", "NEW.community_id, NEW.status, NEW.language"
        vector = _postgres_vector("NEW.", "post_search_config(NEW.language)")
        also, changed_by = ", language = EXCLUDED.language", "subject, body, community_id, status, language"
    else:
        columns, values = "community_id, status", "NEW.community_id, NEW.status"
        vector, also, changed_by = _postgres_vector("NEW.", _ENGLISH), "", "subject, body, community_id, status"
    return (
        "CREATE OR REPLACE FUNCTION index_post_for_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO post_search (post_id, {columns}, search_vector) VALUES (NEW.id, {values}, {vector}) "
        "ON CONFLICT (post_id) DO UPDATE SET community_id = EXCLUDED.community_id, status = EXCLUDED.status, "
        f"search_vector = EXCLUDED.search_vector{also}; RETURN NULL; END $$",
        "DROP TRIGGER posts_search_update ON posts",
        f"CREATE TRIGGER posts_search_update AFTER UPDATE OF {changed_by} ON posts "
        "FOR EACH ROW EXECUTE FUNCTION index_post_for_search()",
    )


def _detect_languages() -> None:
    """Give every stored post its language, a batch of posts at a time."""
    posts = sa.table(
        "posts",
        sa.column("id", sa.Integer),
        sa.column("subject", sa.String),
        sa.column("body", sa.Text),
        sa.column("author_id", sa.Integer),
        sa.column("community_id", sa.Integer),
        sa.column("language", sa.String),
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("language", sa.String))
    communities = sa.table("communities", sa.column("id", sa.Integer), sa.column("language", sa.String))
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                posts.c.id,
                posts.c.subject,
                sa.func.substr(posts.c.body, 1, DETECTED_CHARS),
                users.c.language,
                communities.c.language,
            )
            .outerjoin(users, users.c.id == posts.c.author_id)
            .outerjoin(communities, communities.c.id == posts.c.community_id)
            .where(posts.c.id > last)
            .order_by(posts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        found = [{"post": row[0], "language": post_language(*row[1:])} for row in rows]
        known = [value for value in found if value["language"]]
        if known:
            conn.execute(
                posts.update().where(posts.c.id == sa.bindparam("post")).values(language=sa.bindparam("language")),
                known,
            )
        last = rows[-1][0]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("posts", sa.Column("language", sa.String(length=8), server_default="", nullable=False))
    if dialect == "postgresql":
        op.add_column("post_search", sa.Column("language", sa.String(length=8), server_default="", nullable=False))
    log.info("finding the language of each post (a few minutes per million posts)")
    _detect_languages()
    if dialect == "sqlite":
        log.info("rebuilding the full-text index by language (about a minute per million posts)")
        tables = {
            "posts_fts": (_STEMMED, VIEW, "{0}language != 'cy'"),
            "posts_fts_cy": (_UNSTEMMED, WELSH_VIEW, "{0}language = 'cy'"),
        }
        for statement in _sqlite_tables(tables, (*_COLUMNS, "language")):
            op.execute(statement)
    elif dialect == "postgresql":
        log.info("indexing each post again in its language's configuration (about a minute per million posts)")
        for statement in (*_POSTGRES_CONFIGS, *_postgres_trigger(with_language=True)):
            op.execute(statement)
        op.execute(
            "UPDATE post_search SET language = p.language, "
            f"search_vector = {_postgres_vector('p.', 'post_search_config(p.language)')} "
            "FROM posts p WHERE p.id = post_search.post_id"
        )
        op.execute("ANALYZE post_search")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _sqlite_tables({"posts_fts": (_STEMMED, VIEW, "1")}, _COLUMNS):
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _postgres_trigger(with_language=False):
            op.execute(statement)
        op.execute(
            f"UPDATE post_search SET search_vector = {_postgres_vector('p.', _ENGLISH)} "
            "FROM posts p WHERE p.id = post_search.post_id"
        )
        op.execute("DROP FUNCTION post_search_config(text)")
        op.execute("DROP TEXT SEARCH CONFIGURATION search_welsh")
        op.execute("DROP TEXT SEARCH CONFIGURATION search_english")
        # unaccent stays: other schemas or tools may use it, and it costs nothing unused.
        op.drop_column("post_search", "language")
    op.drop_column("posts", "language")
