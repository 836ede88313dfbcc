"""The migrations build exactly the schema the models describe, and upgrading is safe to repeat."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    text,
    update,
)

from forum import db, schema
from forum.models import Base, Community, Post
from forum.search import search


def differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        opts = {"compare_type": True, "render_as_batch": True, **schema.comparison_options(engine.dialect.name)}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_of_an_empty_database_matches_the_models(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        assert schema.current_revision(engine) is None
        schema.upgrade(engine)
        assert schema.is_current(engine)
        assert differences(engine) == [], "models and migrations disagree: write a migration"
    finally:
        engine.dispose()


def test_upgrading_twice_keeps_the_data(engine: Engine) -> None:
    """``listbridge init`` may be run again on a live site (after an update, by mistake)."""
    with db.make_sessionmaker(engine).begin() as session:
        session.add(Community(slug="housing", name="Housing"))
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as conn:
        assert conn.scalars(select(Community.slug)).all() == ["housing"]
    assert differences(engine) == []


def _insert(conn: Connection, table: str, **values: object) -> int:
    """A row written through the schema as it stands (the models describe the newest one):
    every NOT NULL column without a server default gets a plain value of its type."""
    reflected = Table(table, MetaData(), autoload_with=conn)
    plain = {Integer: 0, String: "x", Text: "", Boolean: False, DateTime: datetime(2024, 1, 1, tzinfo=UTC)}
    for column in reflected.columns:
        if column.name in values or column.nullable or column.server_default is not None or column.primary_key:
            continue
        values[column.name] = next(value for kind, value in plain.items() if isinstance(column.type, kind))
    return conn.execute(insert(reflected).values(**values).returning(reflected.c.id)).scalar_one()


def test_web_posts_stored_as_markdown_read_as_text_after_the_upgrade(db_url: str) -> None:
    """Before 0010 a web post's Markdown was stored as typed; a mailed post is left as written."""
    engine = db.make_engine(db_url)
    markdown = "**Rents** up: see [the report](https://x.example/r)"
    try:
        schema.upgrade(engine, "0009")
        with engine.begin() as conn:
            community = _insert(conn, "communities", slug="housing", name="Housing")
            thread = _insert(conn, "threads", community_id=community, subject="Rents")
            for n, source in enumerate(("web", "email")):
                _insert(
                    conn,
                    "posts",
                    community_id=community,
                    thread_id=thread,
                    source=source,
                    body=markdown,
                    message_id=f"<{n}@x.example>",
                    subject=source,
                    status="published",
                )
        schema.upgrade(engine)
        with engine.connect() as conn:
            bodies = dict(conn.execute(select(Post.source, Post.body)).all())
        assert bodies == {"web": "Rents up: see the report <https://x.example/r>", "email": markdown}
    finally:
        engine.dispose()


def _indexed(conn: Connection, word: str) -> list[int]:
    """The posts the full-text index finds ``word`` in."""
    if conn.dialect.name == "sqlite":
        query = "SELECT rowid FROM posts_fts WHERE posts_fts MATCH :word"
    else:
        query = "SELECT post_id FROM post_search WHERE search_vector @@ plainto_tsquery('english', :word)"
    return list(conn.execute(text(query), {"word": word}).scalars())


def _check_sqlite_index(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":  # compares the index with what its content table says it holds
        conn.execute(text("INSERT INTO posts_fts(posts_fts, rank) VALUES ('integrity-check', 1)"))
        if conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'posts_fts_cy'")).first():  # since 0018
            conn.execute(text("INSERT INTO posts_fts_cy(posts_fts_cy, rank) VALUES ('integrity-check', 1)"))


def test_a_post_over_the_search_bound_is_indexed_again(db_url: str) -> None:
    """0016 bounds what search reads of a body; a post indexed whole before it is indexed
    again by its bounded text, and the index follows it when it changes and goes."""
    engine = db.make_engine(db_url)
    body = " ".join(("radiator", "filler " * 30_000, "thermostat", "filler " * 2_000, "valve"))
    try:
        schema.upgrade(engine, "0015")
        with engine.begin() as conn:
            community = _insert(conn, "communities", slug="housing", name="Housing")
            thread = _insert(conn, "threads", community_id=community, subject="Heating")
            post = _insert(
                conn,
                "posts",
                community_id=community,
                thread_id=thread,
                source="email",
                body=body,
                message_id="<1@x.example>",
                subject="Heating",
                status="published",
            )
            assert _indexed(conn, "thermostat") == [post]
        schema.upgrade(engine)
        with engine.begin() as conn:
            _check_sqlite_index(conn)
            assert [_indexed(conn, word) for word in ("radiator", "thermostat", "valve")] == [[post], [], [post]]
            conn.execute(update(Post).values(body=body.replace("radiator", "boiler")))
            _check_sqlite_index(conn)
            assert [_indexed(conn, word) for word in ("radiator", "boiler")] == [[], [post]]
            conn.execute(delete(Post))
            _check_sqlite_index(conn)
            assert _indexed(conn, "boiler") == []
    finally:
        engine.dispose()


def test_posts_stored_before_0018_are_given_their_language_and_searched_in_it(db_url: str) -> None:
    """0018 finds each stored post's language; a Welsh one is then found by its words
    folded ("dwr" for "dŵr") and not by an English stem ("merch" for "merches"), and the
    index follows a post whose language changes."""
    engine = db.make_engine(db_url)
    welsh = "Mae dŵr yn dod drwy'r to, ac mae'r merches drws nesaf wedi cwyno am y lleithder."
    english = "Water is coming through the roof, and the bus goes over the bridge."
    try:
        schema.upgrade(engine, "0017")
        with engine.begin() as conn:
            community = _insert(conn, "communities", slug="housing", name="Housing", visibility="public")
            thread = _insert(conn, "threads", community_id=community, subject="Roof")
            posts = [
                _insert(
                    conn,
                    "posts",
                    community_id=community,
                    thread_id=thread,
                    source="email",
                    body=body,
                    message_id=f"<{n}@x.example>",
                    subject=subject,
                    status="published",
                )
                for n, (subject, body) in enumerate((("Y to", welsh), ("Leaks", english), ("Re: Leaks", "Diolch!")))
            ]
        schema.upgrade(engine)
        sessions = db.make_sessionmaker(engine)

        def found(word: str) -> list[int]:
            with sessions() as session:
                return [hit.post_id for hit in search(session, None, word).hits]

        with engine.begin() as conn:
            _check_sqlite_index(conn)
            # Too short to tell: its community's language.
            assert conn.execute(select(Post.language).order_by(Post.id)).scalars().all() == ["cy", "en", "en"]
        assert found("dwr") == [posts[0]] and found("merch") == [] and found("roofs") == [posts[1]]
        with engine.begin() as conn:
            conn.execute(update(Post).where(Post.id == posts[0]).values(language="en"))
            _check_sqlite_index(conn)
        assert found("merch") == [posts[0]], "indexed again as English"
    finally:
        engine.dispose()
