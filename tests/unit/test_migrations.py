"""The migrations build exactly the schema the models describe, and upgrading is safe to repeat."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

from forum import db, schema
from forum.models import Base, Community, Post
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_community


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


def test_web_posts_stored_as_markdown_read_as_text_after_the_upgrade(db_url: str, site: Site) -> None:
    """Before 0010 a web post's Markdown was stored as typed; a mailed post is left as written."""
    engine = db.make_engine(db_url)
    try:
        schema.upgrade(engine, "0009")
        with db.make_sessionmaker(engine).begin() as session:
            make_community(session, "housing", policy="open")
            for source in ("web", "email"):
                submit_post(session, Draft(community="housing", author_email="alice@council.example", source=source,
                                           subject=source, body="**Rents** up: see [the report](https://x.example/r)"),
                            site)
        schema.upgrade(engine)
        with engine.connect() as conn:
            bodies = dict(conn.execute(select(Post.source, Post.body)).all())
        assert bodies == {"web": "Rents up: see the report <https://x.example/r>",
                          "email": "**Rents** up: see [the report](https://x.example/r)"}
    finally:
        engine.dispose()
