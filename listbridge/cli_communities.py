"""``listbridge community …``: creating, listing, editing and deleting communities."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from forum.directory import (
    create_community,
    edit_community,
)
from forum.languages import COMMUNITY_LANGUAGES
from forum.models import Community, Membership, PostingPolicy, Visibility
from forum.posting import community_by_slug
from forum.site import Site
from listbridge.cli_context import Context, fail, pass_ctx


@click.group()
def community() -> None:
    """Create, list, edit and delete communities."""


@community.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to people.")
@click.option(
    "--visibility",
    type=click.Choice([v.value for v in Visibility]),
    help="public: listed, readable by anyone, joined at once; restricted: listed by name and purpose, "
    "content for members, joined by a request its facilitators decide; private: invisible to "
    "non-members, joined by invitation only.  [default: public]",
)
@click.option("--private", is_flag=True, help="The same as --visibility private.")
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
@click.option("--category", default="", help='A short label the catalogue of communities filters by, e.g. "Housing".')
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
    visibility: str | None,
    private: bool,
    policy: str,
    description: str,
    category: str,
    subject_prefix: str,
    require_authentication: str,
    language: str,
    moderate_new: int,
) -> None:
    """Create the community SLUG (its address is SLUG@mail_domain)."""
    if private and visibility not in (None, Visibility.private.value):
        fail(f"--private and --visibility {visibility} disagree: give one of them")
    with ctx.sessions.begin() as session:
        c = create_community(
            session,
            slug,
            name,
            private=private,
            visibility=visibility or "",
            policy=policy,
            description=description,
            subject_prefix=subject_prefix,
            require_authentication="" if require_authentication == "site" else require_authentication,
            language=language,
            category=category,
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
    count = community.moderate_new
    return ", a new member's first post reviewed" if count == 1 else f", a new member's first {count} posts reviewed"


@community.command("list")
@pass_ctx
def community_list(ctx: Context) -> None:
    """List communities with their member counts and categories ("archived" when they are)."""
    with ctx.sessions() as session:
        rows = session.execute(
            select(
                Community.slug,
                Community.name,
                Community.visibility,
                Community.posting_policy,
                func.count(Membership.id),
                Community.category,
                Community.archived_at,
            )
            .outerjoin(Membership, Membership.community_id == Community.id)
            .group_by(Community.id)
            .order_by(Community.slug)
        )
        for slug, name, vis, policy, members, category, archived_at in rows:
            archived = "\tarchived" if archived_at is not None else ""
            click.echo(f"{slug}\t{name}\t{vis.value}\t{policy.value}\t{members} members\t{category or '-'}{archived}")


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
@click.option("--category", help='A short label the catalogue filters by, e.g. "Housing" ("" for none).')
@click.option(
    "--visibility",
    type=click.Choice([v.value for v in Visibility]),
    help="public, restricted or private (see 'community create --help').",
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
    category: str | None,
    visibility: str | None,
    moderate_new: int | None,
) -> None:
    """Change SLUG's name, description, posting policy, subject prefix, language, category,
    visibility or first-post moderation.

    Only what is given changes.
    """
    if (name, description, policy, subject_prefix, language, category, visibility, moderate_new) == (None,) * 8:
        fail(
            "nothing to change: give --name, --description, --policy, --moderate-new, --subject-prefix, "
            "--language, --category or --visibility"
        )
    with ctx.sessions.begin() as session:
        c = edit_community(
            session,
            community_by_slug(session, slug),
            name=name,
            description=description,
            policy=policy,
            subject_prefix=subject_prefix,
            language=language,
            category=category,
            visibility=visibility,
            moderate_new=moderate_new,
        )
        click.echo(
            f"{c.slug}: name {c.name!r}, {c.visibility.value}, posting: {c.posting_policy.value}, "
            f"subject prefix {c.subject_prefix!r}, language: {c.language}, category {c.category!r}{_first_posts(c)}"
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
    from forum.community_deletion import delete_saving_first  # only delete needs the mbox writer

    saved = delete_saving_first(ctx.sessions, Site.from_settings(ctx.settings), slug)
    click.echo(
        f"deleted {saved.slug}; saved first: its archive in {saved.mbox}, "
        f"its {saved.members} member(s) in {saved.members_csv}"
    )
