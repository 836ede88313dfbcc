"""The ``listbridge`` command line.

Every command takes ``--config FILE`` (or ``$LISTBRIDGE_CONFIG``). A mistake an operator
can make — an unknown community, a bad address, a missing setting — ends with one
readable line on stderr and a non-zero exit, never a traceback.

A command imports what only it needs (Alembic, the digest builder, the bridges, the
server) when it runs: importing them all made every call, ``--help`` included, much
slower (bench/README.md, "Command line").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

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
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from forum import chat, chat_platforms, health
from forum.access import membership_of, user_by_email
from forum.accounts import remove_member
from forum.config import Settings, load
from forum.db import make_engine, make_sessionmaker
from forum.digests import PERIODS
from forum.directory import (
    create_community,
    delete_community,
    edit_community,
    member_listing,
    member_row,
    normalize_email,
    read_member_csv,
    upsert_members,
    write_member_csv,
)
from forum.errors import ListbridgeError, NotFound
from forum.languages import COMMUNITY_LANGUAGES, MEMBER_LANGUAGES
from forum.models import Community, Delivery, Membership, Post, PostingPolicy, utcnow
from forum.moderation import approve, held_posts, reject
from forum.posting import community_by_slug
from forum.site import Site
from listbridge import platforms


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
            _fail(f"'{exc.ctx.command_path}' needs a command: {commands} (see '{exc.ctx.command_path} --help')")
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(f"{exc.format_message()}{hint}")
        except click.ClickException as exc:
            _fail(exc.format_message())
        except click.Abort:
            _fail("interrupted")
        except ListbridgeError as exc:
            _fail(exc.message)
        except (OperationalError, ProgrammingError) as exc:
            text = str(exc.orig)
            if "no such table" in text or "does not exist" in text:
                _fail("the database has no listbridge tables yet: run 'listbridge init' first")
            _fail(f"database error: {text.splitlines()[0]}")
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> NoReturn:
    """Say what is wrong on stderr (each line of a message naming several problems prefixed
    alike, so every line of it can be found with grep) and exit with status 1."""
    for line in message.splitlines() or [""]:
        click.echo(f"listbridge: error: {line}", err=True)
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
def community() -> None:
    """Create, list, edit and delete communities."""


@community.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to people.")
@click.option("--private", is_flag=True, help="Only members can see it (archive, search, feeds).")
@click.option(
    "--policy",
    type=click.Choice(["members", "moderated", "open"]),
    default="members",
    show_default=True,
    help="Who may post without moderation.",
)
@click.option("--description", default="", help="One paragraph about the community.")
@click.option("--subject-prefix", default="", help='Prefix for subjects of mailed posts, e.g. "[housing]".')
@click.option(
    "--require-authentication",
    type=click.Choice(["site", "always", "never"]),
    default="site",
    show_default=True,
    help="Whether a post by email must prove its From domain to be published at once "
    "(site: as [smtp_in] require_authentication says).",
)
@click.option(
    "--language",
    type=click.Choice(COMMUNITY_LANGUAGES),
    default="en",
    show_default=True,
    help="The language of its pages and of the site's own text in its mail (bilingual: Welsh and English).",
)
@pass_ctx
def community_create(
    ctx: Context,
    slug: str,
    name: str,
    private: bool,
    policy: str,
    description: str,
    subject_prefix: str,
    require_authentication: str,
    language: str,
) -> None:
    """Create the community SLUG (its address is SLUG@mail_domain)."""
    with ctx.sessions.begin() as session:
        c = create_community(
            session,
            slug,
            name,
            private=private,
            policy=policy,
            description=description,
            subject_prefix=subject_prefix,
            require_authentication="" if require_authentication == "site" else require_authentication,
            language=language,
        )
        click.echo(
            f"created {c.slug} ({c.visibility.value}, posting: {c.posting_policy.value}, "
            f"language: {c.language}): "
            f"{c.slug}@{ctx.settings.site.mail_domain}"
        )


@community.command("list")
@pass_ctx
def community_list(ctx: Context) -> None:
    """List communities with their member counts."""
    with ctx.sessions() as session:
        rows = session.execute(
            select(
                Community.slug,
                Community.name,
                Community.visibility,
                Community.posting_policy,
                func.count(Membership.id),
            )
            .outerjoin(Membership, Membership.community_id == Community.id)
            .group_by(Community.id)
            .order_by(Community.slug)
        )
        for slug, name, vis, policy, members in rows:
            click.echo(f"{slug}\t{name}\t{vis.value}\t{policy.value}\t{members} members")


@community.command("edit")
@click.argument("slug")
@click.option("--name", help="Name shown to people.")
@click.option("--description", help="One paragraph about the community.")
@click.option("--policy", type=click.Choice([p.value for p in PostingPolicy]), help="Who may post without moderation.")
@click.option("--subject-prefix", help='Prefix for subjects of mailed posts, e.g. "[housing]".')
@click.option(
    "--language",
    type=click.Choice(COMMUNITY_LANGUAGES),
    help="The language of its pages and of the site's own text in its mail (bilingual: Welsh and English).",
)
@pass_ctx
def community_edit(
    ctx: Context,
    slug: str,
    name: str | None,
    description: str | None,
    policy: str | None,
    subject_prefix: str | None,
    language: str | None,
) -> None:
    """Change SLUG's name, description, posting policy, subject prefix or language.

    Only what is given changes.
    """
    if (name, description, policy, subject_prefix, language) == (None, None, None, None, None):
        _fail("nothing to change: give --name, --description, --policy, --subject-prefix or --language")
    with ctx.sessions.begin() as session:
        c = edit_community(
            session,
            community_by_slug(session, slug),
            name=name,
            description=description,
            policy=policy,
            subject_prefix=subject_prefix,
            language=language,
        )
        click.echo(
            f"{c.slug}: name {c.name!r}, posting: {c.posting_policy.value}, "
            f"subject prefix {c.subject_prefix!r}, language: {c.language}"
        )


@community.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Really delete it (its archive and members are saved first).")
@pass_ctx
def community_delete(ctx: Context, slug: str, yes: bool) -> None:
    """Delete SLUG, saving its archive and members first.

    Its archive (an mbox, as 'import' reads) and its members (a CSV, as 'member import'
    reads) are written beside the database (an SQLite file; for PostgreSQL, into the
    storage directory); then the community, its posts, memberships and chat links are
    deleted. People's accounts stay.
    """
    if not yes:
        _fail(f"deleting {slug} removes its archive and members for good: add --yes to do it")
    from forum.archive import community_mbox  # only delete needs the mbox writer

    with ctx.sessions() as session:
        community = community_by_slug(session, slug)
        community_id, slug, before = community.id, community.slug, _contents(session, community.id)
    folder = _beside_database(ctx.settings)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    mbox_path, csv_path = folder / f"{slug}-{stamp}.mbox", folder / f"{slug}-{stamp}-members.csv"
    blobs = Site.from_settings(ctx.settings).blobs
    try:
        with ctx.sessions() as session, mbox_path.open("xb") as out:
            for entry in community_mbox(session, community_id, blobs):
                out.write(entry)
        with ctx.sessions() as session, csv_path.open("x", encoding="utf-8", newline="") as text:
            members = write_member_csv(member_listing(session, community_by_slug(session, slug)), text)
    except OSError as exc:
        _fail(f"cannot save {exc.filename}: {exc.strerror}; {slug} is not deleted")
    with ctx.sessions.begin() as session:
        if _contents(session, community_id) != before:
            _fail(
                f"{slug} changed while it was being saved (a new post or member): {slug} is not deleted; "
                "run the command again"
            )
        delete_community(session, community_by_slug(session, slug))
    click.echo(f"deleted {slug}; saved first: its archive in {mbox_path}, its {members} member(s) in {csv_path}")


def _contents(session: Any, community_id: int) -> tuple[Any, ...]:
    """What a saved copy must still match when the community is deleted: its newest post and its members."""
    return (
        session.scalar(select(func.max(Post.id)).where(Post.community_id == community_id)),
        session.scalar(select(func.max(Membership.id)).where(Membership.community_id == community_id)),
        session.scalar(select(func.count(Membership.id)).where(Membership.community_id == community_id)),
    )


def _beside_database(settings: Settings) -> Path:
    """The folder of an SQLite database file; for a database server, the storage folder."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent
    folder = Path(settings.storage.path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@main.group()
def member() -> None:
    """Add, import, list and remove members."""


@member.command("add")
@click.argument("slug")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(["member", "moderator", "facilitator"]), default="member", show_default=True)
@click.option("--delivery", type=click.Choice(["each", "daily", "weekly", "none"]), default="each", show_default=True)
@click.option(
    "--show-address/--hide-address",
    default=None,
    help="Show the member's address to the other members (default for a new member: hidden; they "
    "are written to privately through the relay). Left as it is when not given.",
)
@click.option(
    "--language",
    type=click.Choice(MEMBER_LANGUAGES),
    help="The member's language: of the pages they see signed in and of the mail we write them. "
    "Left as it is when not given.",
)
@pass_ctx
def member_add(
    ctx: Context,
    slug: str,
    email: str,
    name: str,
    role: str,
    delivery: str,
    show_address: bool | None,
    language: str | None,
) -> None:
    """Add EMAIL to community SLUG (or update their role, delivery, language and whether their address is shown)."""
    row = member_row(email, name, role, delivery, language=language or "", show_address=show_address)
    with ctx.sessions.begin() as session:
        report = upsert_members(session, community_by_slug(session, slug), [row])
    verb = "added" if report.added else "updated" if report.updated else "already a member:"
    shown = "" if show_address is None else f", address {'shown' if show_address else 'hidden'}"
    spoken = f", language {language}" if language else ""
    click.echo(f"{verb} {row.email} in {slug} ({row.role.value}, delivery {row.delivery.value}{shown}{spoken})")


@member.command("import")
@click.argument("slug")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@pass_ctx
def member_import(ctx: Context, slug: str, csv_file: str) -> None:
    """Import members of SLUG from a spreadsheet saved as CSV.

    Its columns: email,name,role,delivery,status,language (only email is required). Every row is
    checked first: if any is bad, nothing is imported and each bad row is named by its
    line number, with all that is wrong with it. Running the same file again changes nothing.
    """
    with ctx.sessions() as session:
        community_by_slug(session, slug)  # a community that does not exist is named before any file
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
    click.echo(
        f"{csv_file}: {len(rows)} rows: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged ({time.monotonic() - start:.1f} s)"
    )


@member.command("list")
@click.argument("slug")
@click.option(
    "--format",
    "form",
    type=click.Choice(["text", "csv"]),
    default="text",
    show_default=True,
    help="csv: the columns 'member import' reads, to edit and import again.",
)
@pass_ctx
def member_list(ctx: Context, slug: str, form: str) -> None:
    """List the members of SLUG: address, role, delivery, status, name.

    Read as they are printed, so a community of any size lists in little memory.
    """
    with ctx.sessions() as session:
        listing = member_listing(session, community_by_slug(session, slug))
        if form == "csv":
            write_member_csv(listing, sys.stdout)
            return
        for m in listing:
            click.echo(f"{m.email}\t{m.role.value}\t{m.delivery.value}\t{m.status.value}\t{m.name}")


@member.command("remove")
@click.argument("slug")
@click.argument("email")
@pass_ctx
def member_remove(ctx: Context, slug: str, email: str) -> None:
    """Remove EMAIL from SLUG (never its last facilitator).

    Someone removed from their last community is signed out of the web as well.
    """
    with ctx.sessions.begin() as session:
        community = community_by_slug(session, slug)
        user = user_by_email(session, normalize_email(email))
        if user is None or membership_of(session, user, community) is None:
            raise NotFound(f"{email} is not a member of {community.slug}")
        removal = remove_member(session, community, user.id)
    click.echo(
        f"removed {email} from {slug}"
        + ("; they are in no community now, so they are signed out of the web" if removal.signed_out else "")
    )


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
