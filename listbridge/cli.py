"""The ``listbridge`` command line.

Every command takes ``--config FILE`` (or ``$LISTBRIDGE_CONFIG``). A mistake an operator
can make — an unknown community, a bad address, a missing setting — ends with one
readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from forum import schema
from forum.config import Settings, load
from forum.db import make_engine, make_sessionmaker
from forum.directory import create_community, member_row, read_member_csv, upsert_members
from forum.errors import ListbridgeError
from forum.models import Community, Membership
from forum.moderation import approve, held_posts, reject
from forum.posting import community_by_slug
from forum.site import Site


class FriendlyGroup(click.Group):
    """Turns the errors a person can cause into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ListbridgeError as exc:
            _fail(exc.message)
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc.orig)
            if "no such table" in text or "does not exist" in text:
                _fail("the database has no listbridge tables yet: run 'listbridge init' first")
            _fail(f"database error: {text.splitlines()[0]}")


def _fail(message: str) -> None:
    click.echo(f"listbridge: error: {message}", err=True)
    sys.exit(1)


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

    @property
    def sessions(self) -> Any:
        if self._sessions is None:
            self._sessions = make_sessionmaker(make_engine(self.settings.database.url))
        return self._sessions


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=FriendlyGroup)
@click.option("--config", "config_path", envvar="LISTBRIDGE_CONFIG", metavar="FILE",
              help="Configuration file (default: $LISTBRIDGE_CONFIG).")
@click.version_option(package_name="listbridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """listbridge: communities of practice in email, on the web and in chat."""
    ctx.obj = Context(config_path)


@main.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create or upgrade the database and the storage directory (safe to run again)."""
    Path(ctx.settings.storage.path).mkdir(parents=True, exist_ok=True)
    before = schema.current_revision(ctx.engine)
    schema.upgrade(ctx.engine)
    after = schema.current_revision(ctx.engine)
    state = "already up to date" if before == after else f"upgraded to revision {after}"
    click.echo(f"database {state}; storage at {ctx.settings.storage.path}")


@main.group()
def community() -> None:
    """Create and list communities."""


@community.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to people.")
@click.option("--private", is_flag=True, help="Only members can see it (archive, search, feeds).")
@click.option("--policy", type=click.Choice(["members", "moderated", "open"]), default="members", show_default=True,
              help="Who may post without moderation.")
@click.option("--description", default="", help="One paragraph about the community.")
@click.option("--subject-prefix", default="", help='Prefix for subjects of mailed posts, e.g. "[housing]".')
@pass_ctx
def community_create(ctx: Context, slug: str, name: str, private: bool, policy: str, description: str,
                     subject_prefix: str) -> None:
    """Create the community SLUG (its address is SLUG@mail_domain)."""
    with ctx.sessions.begin() as session:
        c = create_community(session, slug, name, private=private, policy=policy, description=description,
                             subject_prefix=subject_prefix)
        click.echo(f"created {c.slug} ({c.visibility.value}, posting: {c.posting_policy.value}): "
                   f"{c.slug}@{ctx.settings.site.mail_domain}")


@community.command("list")
@pass_ctx
def community_list(ctx: Context) -> None:
    """List communities with their member counts."""
    with ctx.sessions() as session:
        rows = session.execute(
            select(Community.slug, Community.name, Community.visibility, Community.posting_policy,
                   func.count(Membership.id))
            .outerjoin(Membership, Membership.community_id == Community.id)
            .group_by(Community.id).order_by(Community.slug)
        )
        for slug, name, vis, policy, members in rows:
            click.echo(f"{slug}\t{name}\t{vis.value}\t{policy.value}\t{members} members")


@main.group()
def member() -> None:
    """Add and import members."""


@member.command("add")
@click.argument("slug")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(["member", "moderator", "facilitator"]), default="member", show_default=True)
@click.option("--delivery", type=click.Choice(["each", "daily", "weekly", "none"]), default="each", show_default=True)
@pass_ctx
def member_add(ctx: Context, slug: str, email: str, name: str, role: str, delivery: str) -> None:
    """Add EMAIL to community SLUG (or update their role and delivery)."""
    row = member_row(email, name, role, delivery)
    with ctx.sessions.begin() as session:
        report = upsert_members(session, community_by_slug(session, slug), [row])
    verb = "added" if report.added else "updated" if report.updated else "already a member:"
    click.echo(f"{verb} {row.email} in {slug} ({row.role.value}, delivery {row.delivery.value})")


@member.command("import")
@click.argument("slug")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@pass_ctx
def member_import(ctx: Context, slug: str, csv_file: str) -> None:
    """Import members of SLUG from a CSV with columns email,name,role,delivery (only email required).

    Every row is checked first: if any is bad, nothing is imported and each bad row is
    named by its line number. Running the same file again changes nothing.
    """
    try:
        text = Path(csv_file).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        _fail(f"{csv_file}: no such file")
    except UnicodeDecodeError as exc:
        _fail(f"{csv_file}: not UTF-8 text (byte {exc.start}); save the spreadsheet as CSV UTF-8")
    start = time.monotonic()
    rows = read_member_csv(text, csv_file)
    with ctx.sessions.begin() as session:
        report = upsert_members(session, community_by_slug(session, slug), rows)
    click.echo(f"{csv_file}: {len(rows)} rows: {report.added} added, {report.updated} updated, "
               f"{report.unchanged} unchanged ({time.monotonic() - start:.1f} s)")


@main.group()
def held() -> None:
    """Posts awaiting a moderator: list, approve, reject."""


@held.command("list")
@click.argument("slug")
@pass_ctx
def held_list(ctx: Context, slug: str) -> None:
    """List the posts of SLUG awaiting approval."""
    with ctx.sessions() as session:
        for post in held_posts(session, community_by_slug(session, slug)):
            click.echo(f"{post.id}\t{post.created_at:%Y-%m-%d %H:%M}\t{post.author_email}\t{post.subject}\t"
                       f"({post.hold_reason})")


@held.command("approve")
@click.argument("post_id", type=int)
@pass_ctx
def held_approve(ctx: Context, post_id: int) -> None:
    """Publish held post POST_ID to the community."""
    with ctx.sessions.begin() as session:
        copies = approve(session, Site.from_settings(ctx.settings), post_id)
    click.echo(f"approved post {post_id}: {copies} personal copies queued")


@held.command("reject")
@click.argument("post_id", type=int)
@click.option("--reason", default="", help="Told to the author.")
@pass_ctx
def held_reject(ctx: Context, post_id: int, reason: str) -> None:
    """Refuse held post POST_ID and tell its author why."""
    with ctx.sessions.begin() as session:
        reject(session, post_id, reason)
    click.echo(f"rejected post {post_id}; its author is told")


@main.command()
@pass_ctx
def serve(ctx: Context) -> None:
    """Run the mail gateway and the delivery worker until SIGINT/SIGTERM."""
    from listbridge.runtime import serve as run_serve

    run_serve(ctx.settings)
