"""The ``listbridge`` command line.

Every command takes ``--config FILE`` (or ``$LISTBRIDGE_CONFIG``). A mistake an operator
can make — an unknown community, a bad address, a missing setting — ends with one
readable line on stderr and a non-zero exit, never a traceback.

A command imports what only it needs (Alembic, the digest builder, the bridges, the
server) when it runs: importing them all made every call, ``--help`` included, much
slower (bench/README.md, "Command line"). The commands of a group with many live in a
module of their own (``cli_communities``, ``cli_members``, ``cli_people``, ``cli_site``); what they all share, in
``cli_context``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from forum import chat, chat_platforms, health
from forum.digests import PERIODS
from forum.models import Delivery, utcnow
from forum.moderation import approve, held_posts, reject
from forum.posting import community_by_slug
from forum.site import Site
from listbridge import platforms
from listbridge.cli_communities import community
from listbridge.cli_context import Context, FriendlyGroup, pass_ctx
from listbridge.cli_members import member
from listbridge.cli_people import person
from listbridge.cli_site import site


@click.group(cls=FriendlyGroup)
@click.option(
    "--config",
    "config_path",
    envvar="LISTBRIDGE_CONFIG",
    metavar="FILE",
    help="Configuration file (default: $LISTBRIDGE_CONFIG).",
)
@click.version_option(package_name="listbridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """listbridge: communities of practice in email, on the web and in chat."""
    platforms.register()  # before the settings are read: each chat platform declares its section
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create or upgrade the database and the storage directory (safe to run again)."""
    Path(ctx.settings.storage.path).mkdir(parents=True, exist_ok=True)
    from forum import schema  # Alembic: only init needs it

    before = schema.current_revision(ctx.engine)
    schema.upgrade(ctx.engine)
    after = schema.current_revision(ctx.engine)
    state = "already up to date" if before == after else f"upgraded to revision {after}"
    click.echo(f"database {state}; storage at {ctx.settings.storage.path}")


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
            click.echo(
                f"{post.id}\t{post.created_at:%Y-%m-%d %H:%M}\t{post.author_email}\t{post.subject}\t"
                f"({post.hold_reason})"
            )


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


@main.group()
def shunt() -> None:
    """Incoming messages set aside because processing them took too long: list, retry."""


@shunt.command("list")
@pass_ctx
def shunt_list(ctx: Context) -> None:
    """List the messages set aside, oldest first."""
    from mailgateway.incoming import spooling

    with ctx.sessions() as session:
        for row in spooling.shunted(session):
            click.echo(
                f"{row.id}\t{row.received_at:%Y-%m-%d %H:%M}\t{row.mail_from or '<>'}\t"
                f"{', '.join(row.rcpt_to)}\t{len(row.raw)} bytes\t({row.outcome})"
            )


@shunt.command("retry")
@click.argument("inbound_id", type=int)
@pass_ctx
def shunt_retry(ctx: Context, inbound_id: int) -> None:
    """Process message INBOUND_ID again (the running gateway takes it within a second)."""
    from mailgateway.incoming import spooling

    with ctx.sessions.begin() as session:
        spooling.unshunt(session, inbound_id)
    click.echo(f"message {inbound_id} is queued to be processed again")


class PlatformChoice(click.Choice):
    """The registered chat platforms, read when a command line is parsed, not when this
    module is imported: whatever the wiring registered is offered."""

    def __init__(self) -> None:  # no fixed choices to store
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]  # read when parsing, never set
        return chat_platforms.names()


@main.group()
def bridge() -> None:
    """Link communities to chat channels: Slack channels, Matrix rooms."""


@bridge.command("link")
@click.argument("slug")
@click.argument("platform", type=PlatformChoice())
@click.argument("channel")
@pass_ctx
def bridge_link(ctx: Context, slug: str, platform: str, channel: str) -> None:
    """Link community SLUG to CHANNEL on a chat platform: its id there, such as a Slack channel id (C0123ABCD) or a Matrix room id (!abc:example.org).

    New posts go to the channel from now on; messages in the channel become posts.
    """
    with ctx.sessions.begin() as session:
        chat.link(session, community_by_slug(session, slug), platform, channel, settings=ctx.settings)
    click.echo(f"linked {slug} to {platform} {channel}")


@bridge.command("unlink")
@click.argument("slug")
@click.argument("platform", type=PlatformChoice())
@click.argument("channel")
@pass_ctx
def bridge_unlink(ctx: Context, slug: str, platform: str, channel: str) -> None:
    """Stop bridging community SLUG and CHANNEL (messages already copied stay)."""
    with ctx.sessions.begin() as session:
        chat.unlink(session, community_by_slug(session, slug), platform, channel)
    click.echo(f"unlinked {slug} from {platform} {channel}")


@bridge.command("list")
@click.argument("slug", required=False)
@pass_ctx
def bridge_list(ctx: Context, slug: str | None) -> None:
    """List linked channels (of SLUG only, when given)."""
    with ctx.sessions() as session:
        for row in chat.links(session, community_by_slug(session, slug) if slug else None):
            click.echo(f"{row.slug}\t{row.platform}\t{row.channel}")


@bridge.command("matrix-registration")
@pass_ctx
def bridge_matrix_registration(ctx: Context) -> None:
    """Print the application service registration for the homeserver (Matrix puppets).

    Save it as a file, add that file to app_service_config_files in homeserver.yaml and
    restart the homeserver; from then on each author posts to Matrix as a user of their own.
    """
    from bridges.matrix_puppets import registration
    from bridges.platforms.matrix import PLATFORM

    click.echo(registration(PLATFORM.options(ctx.settings)), nl=False)


@main.group("digest")
def digest_group() -> None:
    """Daily and weekly digests: see one member's, or queue all that are owed now."""


PERIOD_CHOICE = click.Choice([period.value for period in PERIODS])


@digest_group.command("preview")
@click.argument("email")
@click.option("--period", type=PERIOD_CHOICE, default=Delivery.daily.value, show_default=True)
@click.option("--html", "as_html", is_flag=True, help="Print the HTML alternative instead of the plain text.")
@pass_ctx
def digest_preview(ctx: Context, email: str, period: str, as_html: bool) -> None:
    """Print the digest EMAIL would get now; nothing is sent or recorded."""
    from digest.run import Digests

    digests = Digests(Site.from_settings(ctx.settings), ctx.engine)
    rendered = digests.preview(email, Delivery(period), utcnow())
    if rendered is None:
        click.echo(f"nothing new for {email} since their last {period} digest: none would be sent")
        return
    click.echo(f"To: {rendered.address}\nSubject: {rendered.subject}\n")
    click.echo(rendered.html if as_html else rendered.text)


@digest_group.command("run")
@click.option("--period", type=PERIOD_CHOICE, help="Only this period (default: daily, then weekly).")
@pass_ctx
def digest_run(ctx: Context, period: str | None) -> None:
    """Queue now, whatever the members' hours, each member's digest: the one they are owed,
    or else their next one, early. At most one per member and day (or week), however often
    it is run; the delivery worker of 'listbridge serve' sends them."""
    from digest.run import Digests

    digests = Digests(Site.from_settings(ctx.settings), ctx.engine)
    now = utcnow()
    reports = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        for chosen in [Delivery(period)] if period else PERIODS:
            task = bar.add_task(f"{chosen.value} digests", total=None)
            reports.append(digests.run(chosen, now, force=True, progress=_advancing(bar, task)))
    for report in reports:
        click.echo(report.summary())


def _advancing(bar: Progress, task: TaskID) -> Callable[[int, int], None]:
    return lambda done, owed: bar.update(task, completed=done, total=owed)


@main.command("import")
@click.argument("slug")
@click.argument("mbox_file", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def import_archive(ctx: Context, slug: str, mbox_file: Path) -> None:
    """Import an existing archive (an mbox: Mailman 2/3, Google Groups) into community SLUG.

    Messages keep their date and author and are threaded as if they had been mailed to
    the list; nobody is sent a copy. Messages already there are skipped, so running the
    same file again imports nothing.
    """
    from mailgateway.incoming.mbox_import import open_import

    checked = open_import(ctx.sessions, Site.from_settings(ctx.settings), slug, mbox_file)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(f"importing {mbox_file.name}", total=checked.total)
        report = checked.run(progress=_advancing(bar, task))
    for refusal in report.refused:
        click.echo(f"{mbox_file}: {refusal}", err=True)
    click.echo(f"{mbox_file}: {report.total} messages: {report.summary()}")


class RateColumn(ProgressColumn):
    """Items per second, for progress in messages rather than bytes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "?/s", style="progress.data.speed")


@main.command()
@click.option(
    "--stale",
    "stale_seconds",
    type=click.FloatRange(min=0),
    default=health.STALE.total_seconds(),
    show_default=True,
    metavar="SECONDS",
    help="A queue whose oldest waiting row is older than this is unhealthy.",
)
@pass_ctx
def status(ctx: Context, stale_seconds: float) -> None:
    """The queues and whether this site's ports answer, one line each; exit status 1 when
    something is unhealthy."""
    from datetime import timedelta

    from listbridge.status import check

    with ctx.sessions() as session:
        lines = check(session, ctx.settings, timedelta(seconds=stale_seconds))
    for line in lines:
        click.echo(str(line))
    if not all(line.ok for line in lines):
        sys.exit(1)


@main.command()
@click.option(
    "--only",
    "roles",
    multiple=True,
    type=click.Choice(["gateway", "web", "worker", "scheduler"]),
    help="Run only this role (repeatable; default: all). gateway = SMTP/LMTP listener, spool "
    "processor and IMAP poller; worker = mail delivery and chat bridges; web = the web "
    "archive; scheduler = digests.",
)
@pass_ctx
def serve(ctx: Context, roles: tuple[str, ...]) -> None:
    """Run the site (or the roles given with --only) until SIGINT/SIGTERM."""
    from listbridge.runtime import ROLES
    from listbridge.runtime import serve as run_serve

    run_serve(ctx.settings, roles or ROLES)


@main.command("log")
@click.option("--community", "slug", metavar="SLUG", help="Only this community's entries.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Page of entries, newest first.")
@click.option("--per-page", type=click.IntRange(min=1, max=1000), default=50, show_default=True)
@pass_ctx
def log(ctx: Context, slug: str | None, page: int, per_page: int) -> None:
    """The moderation log: edits, deletions, hidden posts and threads, reports, bans,
    held messages decided; who did each, when and why. Newest first, tab-separated."""
    from forum import moderation_log

    with ctx.sessions() as session:
        community = community_by_slug(session, slug) if slug else None
        found = moderation_log.entries(session, community, page, per_page)
    for line in found.lines:
        target = line.target_name or (f"post {line.post_id}" if line.post_id else "")
        who = line.actor_name if line.actor_id is not None else "(command line)"
        detail = " ".join(line.detail.split())
        click.echo(f"{line.created_at:%Y-%m-%d %H:%M:%S}Z\t{line.slug}\t{who}\t{line.action.value}\t{target}\t{detail}")
    if found.pagination.has_next:
        click.echo(f"(page {found.pagination.number} of {found.pagination.pages}: --page {page + 1} for more)")


main.add_command(community)
main.add_command(member)
main.add_command(site)
main.add_command(person)
