"""``listbridge person …``: members' profiles, loaded in bulk and shown."""

from __future__ import annotations

import time

import click

from forum.access import user_by_email
from forum.directory import normalize_email
from forum.errors import NotFound
from forum.models import Profile, ProfileVisibility
from forum.profiles import cards, import_people, read_person_csv
from listbridge.cli_context import Context, pass_ctx, read_spreadsheet


@click.group()
def person() -> None:
    """Members' profiles: import them from a spreadsheet, show one."""


@person.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@pass_ctx
def person_import(ctx: Context, csv_file: str) -> None:
    """Load members' profiles from a spreadsheet saved as CSV.

    Its columns: email,name,organisation,job_title,region,expertise (only email is required;
    areas of expertise are separated by ";"). Each address must be a member's. Every row
    is checked first: if any is bad, nothing is imported and each bad row is named by its
    line number. A column left empty leaves the member's profile as it is; running the
    same file again changes nothing.
    """
    text = read_spreadsheet(csv_file)
    start = time.monotonic()
    with ctx.sessions.begin() as session:
        rows = read_person_csv(session, text, csv_file)
        report = import_people(session, rows)
    click.echo(
        f"{csv_file}: {len(rows)} rows: {report.updated} updated, {report.unchanged} unchanged "
        f"({time.monotonic() - start:.1f} s)"
    )


@person.command("show")
@click.argument("email")
@pass_ctx
def person_show(ctx: Context, email: str) -> None:
    """Show the profile of the member with address EMAIL, and who may see it."""
    with ctx.sessions() as session:
        user = user_by_email(session, normalize_email(email))
        if user is None:
            raise NotFound(f"no member has the address {email}")
        card = cards(session, [user.id])[user.id]
        profile = session.get(Profile, user.id)
        lines = [
            ("name", card.name),
            ("organisation", card.organisation),
            ("job title", card.job_title),
            ("region", card.region),
            ("expertise", "; ".join(card.expertise)),
            ("links", " ".join(card.links)),
            ("photo", "yes" if card.has_photo else "no"),
            ("seen by", (profile.visibility if profile else ProfileVisibility.shared).value),
            ("address shown", "yes" if profile and profile.show_email else "no"),
        ]
    for label, value in lines:
        click.echo(f"{label}: {value}")
