"""What every command of the command line shares: one-line errors, settings and database.

A mistake an operator can make ends with one readable line on stderr and exit status 1
(:class:`FriendlyGroup`, :func:`fail`); the settings and the database are opened only
when a command needs them, so ``--help`` works without a config file (:class:`Context`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from forum.config import Settings, load
from forum.db import make_engine, make_sessionmaker
from forum.errors import ListbridgeError


class FriendlyGroup(click.Group):
    """Every error a person can cause, a usage mistake included, as one line and exit status 1.

    Click's own usage errors (a missing argument, a non-numeric id, an unknown option) are
    caught here too, once for every command: Click would print three lines and exit 2.
    """

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name or "listbridge", complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            group = exc.ctx.command
            commands = ", ".join(group.list_commands(exc.ctx)) if isinstance(group, click.Group) else ""
            fail(f"'{exc.ctx.command_path}' needs a command: {commands} (see '{exc.ctx.command_path} --help')")
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            fail(f"{exc.format_message()}{hint}")
        except click.ClickException as exc:
            fail(exc.format_message())
        except click.Abort:
            fail("interrupted")
        except ListbridgeError as exc:
            fail(exc.message)
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc.orig)
            if "no such table" in text or "does not exist" in text:
                fail("the database has no listbridge tables yet: run 'listbridge init' first")
            fail(f"database error: {text.splitlines()[0]}")
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def fail(message: str) -> NoReturn:
    """Say what is wrong on stderr (each line of a message naming several problems prefixed
    alike, so every line of it can be found with grep) and exit with status 1."""
    for line in message.splitlines() or [""]:
        click.echo(f"listbridge: error: {line}", err=True)
    sys.exit(1)


def read_spreadsheet(csv_file: str) -> str:
    """The text of a spreadsheet saved as CSV, or one line saying why it cannot be read."""
    try:
        return Path(csv_file).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"{csv_file}: no such file")
    except UnicodeDecodeError as exc:
        fail(f"{csv_file}: not UTF-8 text (byte {exc.start}); save the spreadsheet as CSV UTF-8")


class Context:
    """Settings and database, opened lazily so ``--help`` works without a config file."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._sessions: Any = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load(self.config_path)
        return self._settings

    @property
    def engine(self) -> Any:
        return self.sessions.kw["bind"]

    def close(self) -> None:
        """Give the database connections back when the command ends: a command run inside a
        longer-lived process (a script, a test) must not leave a pool open per command."""
        if self._sessions is not None:
            self.engine.dispose()
            self._sessions = None

    @property
    def sessions(self) -> Any:
        if self._sessions is None:
            self._sessions = make_sessionmaker(make_engine(self.settings.database.url))
        return self._sessions


pass_ctx = click.make_pass_decorator(Context)
