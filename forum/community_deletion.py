"""Deleting a community, its archive and members saved first, for the command line and
the site administrators' page alike.

Its archive (an mbox, as ``listbridge import`` reads) and its members (a CSV, as ``member
import`` reads) are written beside the database (an SQLite file; for PostgreSQL, into the
storage directory); then the community, its posts, memberships and chat links are deleted,
but only if nothing arrived while the copies were written. Saving streams the archive
from sessions of its own, so this function, unlike the core's others, is handed the
sessionmaker and owns its transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, make_url, select
from sqlalchemy.orm import Session, sessionmaker

from forum.archive import community_mbox
from forum.config import Settings
from forum.directory import delete_community, member_listing, write_member_csv
from forum.errors import InvalidInput, ListbridgeError
from forum.models import Membership, Post, utcnow
from forum.posting import community_by_slug
from forum.site import Site


@dataclass(frozen=True)
class Saved:
    slug: str
    mbox: Path
    members_csv: Path
    members: int


def delete_saving_first(sessions: sessionmaker[Session], site: Site, slug: str) -> Saved:
    """Save ``slug``'s archive and members, then delete it; the error says why if it is not deleted."""
    with sessions() as session:
        community = community_by_slug(session, slug)
        community_id, slug, before = community.id, community.slug, _contents(session, community.id)
    folder = beside_database(site.settings)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    mbox_path, csv_path = folder / f"{slug}-{stamp}.mbox", folder / f"{slug}-{stamp}-members.csv"
    try:
        with sessions() as session, mbox_path.open("xb") as out:
            for entry in community_mbox(session, community_id, site.blobs):
                out.write(entry)
        with sessions() as session, csv_path.open("x", encoding="utf-8", newline="") as text:
            members = write_member_csv(member_listing(session, community_by_slug(session, slug)), text)
    except OSError as exc:
        raise ListbridgeError(f"cannot save {exc.filename}: {exc.strerror}; {slug} is not deleted") from None
    with sessions.begin() as session:
        if _contents(session, community_id) != before:
            raise InvalidInput(
                f"{slug} changed while it was being saved (a new post or member): {slug} is not deleted; try again"
            )
        delete_community(session, community_by_slug(session, slug))
    return Saved(slug, mbox_path, csv_path, members)


def _contents(session: Session, community_id: int) -> tuple[Any, ...]:
    """What a saved copy must still match when the community is deleted: its newest post and its members."""
    return (
        session.scalar(select(func.max(Post.id)).where(Post.community_id == community_id)),
        session.scalar(select(func.max(Membership.id)).where(Membership.community_id == community_id)),
        session.scalar(select(func.count(Membership.id)).where(Membership.community_id == community_id)),
    )


def beside_database(settings: Settings) -> Path:
    """The folder of an SQLite database file; for a database server, the storage folder."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent
    folder = Path(settings.storage.path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
