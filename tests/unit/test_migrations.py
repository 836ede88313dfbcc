"""The migrations build exactly the schema the models describe, and upgrading is safe to repeat."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Boolean, Connection, DateTime, Engine, Integer, MetaData, String, Table, Text, insert, select

from forum import db, schema
from forum.models import Base, Community, Post


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
    plain = {Integer: 0, String: "x", Text: "", Boolean: False, DateTime: datetime(2024, 1, 1, tzinfo=timezone.utc)}
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
                _insert(conn, "posts", community_id=community, thread_id=thread, source=source, body=markdown,
                        message_id=f"<{n}@x.example>", subject=source, status="published")
        schema.upgrade(engine)
        with engine.connect() as conn:
            bodies = dict(conn.execute(select(Post.source, Post.body)).all())
        assert bodies == {"web": "Rents up: see the report <https://x.example/r>", "email": markdown}
    finally:
        engine.dispose()
