"""``listbridge member …``: adding, importing, listing and removing members."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from forum import invitations, takedown
from forum.access import membership_of, user_by_email
from forum.accounts import remove_member
from forum.directory import (
    member_listing,
    member_row,
    normalize_email,
    read_member_csv,
    upsert_members,
    write_member_csv,
)
from forum.errors import NotFound
from forum.languages import MEMBER_LANGUAGES
from forum.moderation_log import OPERATOR
from forum.posting import community_by_slug
from forum.site import Site
from listbridge.cli_context import Context, fail, pass_ctx, read_spreadsheet


@click.group()
def member() -> None:
    """Add, import, list, remove and ban members."""


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
@click.option(
    "--plain-text/--html",
    "plain_text",
    default=None,
    help="Send the member every mail as plain text only, with no HTML part (for screen readers and "
    "mail systems that read nothing else well), or as usual. Left as it is when not given.",
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
    plain_text: bool | None,
) -> None:
    """Add EMAIL to community SLUG (or update their role, delivery, language, mail format and
    whether their address is shown)."""
    mail_format = "" if plain_text is None else "yes" if plain_text else "no"
    row = member_row(
        email, name, role, delivery, language=language or "", plain_text=mail_format, show_address=show_address
    )
    with ctx.sessions.begin() as session:
        report = upsert_members(session, community_by_slug(session, slug), [row])
    verb = "added" if report.added else "updated" if report.updated else "already a member:"
    shown = "" if show_address is None else f", address {'shown' if show_address else 'hidden'}"
    spoken = f", language {language}" if language else ""
    form = "" if plain_text is None else f", mail {'plain text' if plain_text else 'HTML and text'}"
    click.echo(f"{verb} {row.email} in {slug} ({row.role.value}, delivery {row.delivery.value}{shown}{spoken}{form})")


@member.command("import")
@click.argument("slug")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@pass_ctx
def member_import(ctx: Context, slug: str, csv_file: str) -> None:
    """Import members of SLUG from a spreadsheet saved as CSV.

    Its columns: email,name,role,delivery,status,language,plain_text (only email is required;
    plain_text is yes or no). Every row is
    checked first: if any is bad, nothing is imported and each bad row is named by its
    line number, with all that is wrong with it. Running the same file again changes nothing.
    """
    with ctx.sessions() as session:
        community_by_slug(session, slug)  # a community that does not exist is named before any file
    text = read_spreadsheet(csv_file)
    start = time.monotonic()
    rows = read_member_csv(text, csv_file)
    with ctx.sessions.begin() as session:
        report = upsert_members(session, community_by_slug(session, slug), rows)
    click.echo(
        f"{csv_file}: {len(rows)} rows: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged ({time.monotonic() - start:.1f} s)"
    )


@member.command("invite")
@click.argument("slug")
@click.argument("who")
@click.option(
    "--expires-days",
    type=int,
    default=invitations.DEFAULT_DAYS,
    show_default=True,
    help="How long the invitation links work.",
)
@click.option("--message", default="", help="A few words from you, put in each invitation.")
@pass_ctx
def member_invite(ctx: Context, slug: str, who: str, expires_days: int, message: str) -> None:
    """Invite WHO to SLUG: one address, or a CSV file with an email column (and optionally name).

    Each invitee is mailed a personal link that joins in one click. Every row of a CSV is
    checked first: if any is bad, nothing is sent and each bad row is named. Addresses
    already invited (and not yet expired) or already members are left alone, so running
    the same file again sends nothing twice.
    """
    with ctx.sessions() as session:
        community_by_slug(session, slug)  # a community that does not exist is named before any file
    if who.lower().endswith(".csv") or Path(who).is_file():
        try:
            invitees = invitations.read_csv(Path(who).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            fail(f"{who}: no such file")
        except UnicodeDecodeError as exc:
            fail(f"{who}: not UTF-8 text (byte {exc.start}); save the spreadsheet as CSV UTF-8")
    else:
        invitees = [invitations.Invitee(normalize_email(who))]
    with ctx.sessions.begin() as session:
        done = invitations.invite(
            session,
            Site.from_settings(ctx.settings),
            community_by_slug(session, slug),
            invitees,
            days=expires_days,
            message=message,
        )
    for email in done.sent:
        click.echo(f"invited {email} to {slug} (the link works for {expires_days} days)")
    for email in done.already_invited:
        click.echo(f"{email} already has an invitation to {slug} waiting: nothing sent")
    for email in done.already_members:
        click.echo(f"{email} is already a member of {slug}: nothing sent")


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


@member.command("ban")
@click.argument("slug")
@click.argument("email")
@click.option("--reason", default="", help="Kept in the moderation log.")
@pass_ctx
def member_ban(ctx: Context, slug: str, email: str, reason: str) -> None:
    """Ban EMAIL from SLUG: no more copies or digests, no posting by any door, no joining again.

    Someone who is not a member is banned too (an open community takes posts from anyone).
    Their posts stay unless hidden. Recorded in the moderation log.
    """
    address = normalize_email(email)
    with ctx.sessions.begin() as session:
        takedown.ban(session, OPERATOR, community_by_slug(session, slug), address, reason)
    click.echo(f"banned {address} from {slug}")


@member.command("unban")
@click.argument("slug")
@click.argument("email")
@pass_ctx
def member_unban(ctx: Context, slug: str, email: str) -> None:
    """Lift the ban on EMAIL in SLUG: a member again, with the role and delivery they had."""
    address = normalize_email(email)
    with ctx.sessions.begin() as session:
        takedown.unban(session, OPERATOR, community_by_slug(session, slug), address)
    click.echo(f"lifted the ban on {address} in {slug}")
