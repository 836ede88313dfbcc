"""Creating and upgrading the database schema with Alembic, from code.

``listbridge init`` calls :func:`upgrade`; it is safe to run any number of times (Alembic
records the revision it reached). No alembic.ini is needed: the script location is this
package's ``migrations`` directory and the connection is handed over directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# SQLite's full-text index: an FTS5 virtual table and the shadow tables SQLite keeps for it.
SQLITE_SEARCH_TABLE = "posts_fts"
# Welsh posts are indexed in a table of their own, whose words are not stemmed as English
# (migration 0018); its name starts like the shadow tables', so the comparison skips it too.
SQLITE_WELSH_SEARCH_TABLE = SQLITE_SEARCH_TABLE + "_cy"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def comparison_options(dialect: str) -> dict[str, Any]:
    """Alembic filters that say which objects the models describe on ``dialect``.

    The models are the source of truth for every table and column, with two deliberate
    exceptions the comparison (and autogenerate) must skip: objects declared for other
    databases only (``info["dialects"]``, such as PostgreSQL's search vector), and SQLite's
    full-text index, a virtual table SQLAlchemy cannot describe, made by migration 0002.
    """

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        return not (type_ == "table" and _is_sqlite_search_table(name))

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        dialects = getattr(obj, "info", {}).get("dialects")
        return dialects is None or dialect in dialects

    return {"include_name": include_name, "include_object": include_object}


def _is_sqlite_search_table(name: str | None) -> bool:
    return name is not None and (name == SQLITE_SEARCH_TABLE or name.startswith(SQLITE_SEARCH_TABLE + "_"))
