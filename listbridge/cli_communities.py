"""``listbridge community …``: creating, listing, editing and deleting communities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, make_url, select

from forum.config import Settings
from forum.directory import (
    create_community,
    delete_community,
    edit_community,
    member_listing,
    write_member_csv,
)
from forum.languages import COMMUNITY_LANGUAGES
from forum.models import Community, Membership, Post, PostingPolicy, utcnow
from forum.posting import community_by_slug
from forum.site import Site
from listbridge.cli_context import Context, fail, pass_ctx


@click.group()
def community() -> None:
    """Create, list, edit and delete communities."""


@community.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to people.")
@click.option("--private", is_flag=True, help="Only members can see it (archive, search, feeds).")
@click.option(
    "--policy",
    type=click.Choice(["members", "moderated", "open", "announce"]),
    default="members",
    show_default=True,
    help="Who may post without moderation (announce: only facilitators and moderators post).",
)
@click.option(
    "--moderate-new",
    type=int,
    default=0,
    show_default=True,
    help="Hold each member's first N posts for a moderator (0: none).",
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
    moderate_new: int,
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
            moderate_new=moderate_new,
        )
        click.echo(
            f"created {c.slug} ({c.visibility.value}, posting: {c.posting_policy.value}, "
            f"language: {c.language}{_first_posts(c)}): "
            f"{c.slug}@{ctx.settings.site.mail_domain}"
        )


def _first_posts(community: Community) -> str:
    """What the command says of first-post review: nothing while it is off."""
    if not community.moderate_new:
        return ""
    return f", a new member's first {community.moderate_new} post(s) reviewed"


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
@click.option(
    "--policy",
    type=click.Choice([p.value for p in PostingPolicy]),
    help="Who may post without moderation (announce: only facilitators and moderators post).",
)
@click.option("--moderate-new", type=int, help="Hold each member's first N posts for a moderator (0: none).")
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
    moderate_new: int | None,
) -> None:
    """Change SLUG's name, description, posting policy, subject prefix, language or
    first-post moderation.

    Only what is given changes.
    """
    if (name, description, policy, subject_prefix, language, moderate_new) == (None,) * 6:
        fail("nothing to change: give --name, --description, --policy, --moderate-new, --subject-prefix or --language")
    with ctx.sessions.begin() as session:
        c = edit_community(
            session,
            community_by_slug(session, slug),
            name=name,
            description=description,
            policy=policy,
            subject_prefix=subject_prefix,
            language=language,
            moderate_new=moderate_new,
        )
        click.echo(
            f"{c.slug}: name {c.name!r}, posting: {c.posting_policy.value}, "
            f"subject prefix {c.subject_prefix!r}, language: {c.language}{_first_posts(c)}"
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
        fail(f"deleting {slug} removes its archive and members for good: add --yes to do it")
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
        fail(f"cannot save {exc.filename}: {exc.strerror}; {slug} is not deleted")
    with ctx.sessions.begin() as session:
        if _contents(session, community_id) != before:
            fail(
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
