"""``listbridge site admin …``: naming the site administrators (see ``forum.site_admins``)."""

from __future__ import annotations

import click

from forum import site_admins
from listbridge.cli_context import Context, pass_ctx


@click.group()
def site() -> None:
    """The site as a whole: its administrators."""


@site.group()
def admin() -> None:
    """Site administrators: they decide requests for new communities and run every community on the web."""


@admin.command("add")
@click.argument("email")
@pass_ctx
def admin_add(ctx: Context, email: str) -> None:
    """Make the person with EMAIL a site administrator (an account is made for a new address)."""
    with ctx.sessions.begin() as session:
        user, already = site_admins.add(session, email)
        address = next(e.email for e in user.emails if e.is_primary)
    click.echo(f"{address} is {'already ' if already else ''}a site administrator")


@admin.command("remove")
@click.argument("email")
@pass_ctx
def admin_remove(ctx: Context, email: str) -> None:
    """Stop EMAIL being a site administrator (their account stays)."""
    with ctx.sessions.begin() as session:
        left = site_admins.remove(session, email)
    click.echo(f"{email.strip().lower()} is no longer a site administrator")
    if not left:
        click.echo(
            "warning: the site has no administrator now: requests for new communities wait until "
            "'listbridge site admin add' names one",
            err=True,
        )


@admin.command("list")
@pass_ctx
def admin_list(ctx: Context) -> None:
    """List the site administrators: address and name."""
    with ctx.sessions() as session:
        for admin_ in site_admins.admins(session):
            click.echo(f"{admin_.email}\t{admin_.name}")
