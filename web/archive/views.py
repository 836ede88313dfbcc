"""The archive's pages: home, the catalogue of communities, community, thread, attachment,
search, Atom feed and mbox.

Views are thin: forum.archive and forum.search decide what may be seen and load it; a view
turns a request into their arguments and their values into a page. Whatever a visitor
may not read is "not found", exactly as if it did not exist: a 403 would confirm that a
private community or thread is there.

The archive shows names, never email addresses. The mbox downloads are the exception
that proves it: they carry the authors' addresses (the format other list software
imports), so they are for the community's members only; the original messages as
received, which also carry what was taken out for display, only for its facilitators.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from forum import archive, catalogue, takedown, threads, times
from forum.access import can_moderate, can_read
from forum.archive import AttachmentEntry, Pagination, PostEntry
from forum.awaiting import awaiting, managed_by
from forum.errors import NotFound
from forum.list_addresses import list_addresses
from forum.models import Community
from forum.search import search as search_posts
from web import i18n
from web.archive.rendering import RenderedBody, post_html
from web.auth import current_user
from web.i18n import lazy_gettext as _l
from web.query import page_number, query_date
from web.state import state

bp = Blueprint("archive", __name__, template_folder="templates")

HOME_ACTIVE = 10  # communities the home page shows as lately active
COMMUNITIES_PER_PAGE = 50
THREADS_PER_PAGE = 30
RESULTS_PER_PAGE = 20
MAX_RESULT_PAGE = 50  # 1,000 results: deeper pages cost the database more than they help anyone
FEED_ENTRIES = 50
# Served as they are, and shown in the browser: pictures and PDF (the browser's viewer
# runs no script from the file). Everything else is a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
# Types a browser would run or render as a document; stored files of these types are sent
# as plain text, so that even a browser ignoring Content-Disposition shows them inert.
ACTIVE_TYPE_WORDS = ("html", "xml", "svg", "javascript", "ecmascript")
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
SORT_NAMES = {
    catalogue.Sort.activity: _l("Latest activity"),
    catalogue.Sort.size: _l("Most members"),
    catalogue.Sort.name: _l("Name"),
}


# Formatting for templates -----------------------------------------------------------------


@bp.app_template_filter("isotime")
def isotime(moment: datetime) -> str:
    """Machine-readable UTC time, for ``<time datetime>`` and feeds."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@bp.app_template_filter("readable_time")
def readable_time(moment: datetime) -> str:
    """ "3 Mar 2024, 14:05 GMT" in the signed-in reader's time zone (the site's for visitors), in
    the page's language."""
    return i18n.readable_time(moment, _reader_zone())


def _reader_zone() -> ZoneInfo:
    if "reader_zone" not in g:
        user = current_user()
        g.reader_zone = times.reader_zone(user.timezone if user is not None else None, state().site.settings)
    return g.reader_zone


# Shared pieces ----------------------------------------------------------------------------


@bp.errorhandler(NotFound)
@bp.app_errorhandler(404)
def not_found(_error: Exception) -> tuple[str, int]:
    """The same page for what does not exist and what the visitor may not see."""
    return render_template("archive/not_found.html"), 404


def _viewer_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None


@dataclass(frozen=True)
class PageLinks:
    """Where "previous" and "next" lead, and which page of how many is between them."""

    prev_url: str | None
    next_url: str | None
    number: int
    count: int


def _page_links(pagination: Pagination, endpoint: str, **args: Any) -> PageLinks:
    def url(number: int) -> str:
        return url_for(endpoint, **({**args, "page": number} if number > 1 else args))

    return PageLinks(
        prev_url=url(pagination.number - 1) if pagination.has_prev else None,
        next_url=url(pagination.number + 1) if pagination.has_next else None,
        number=pagination.number,
        count=pagination.pages,
    )


def _attachment_url(attachment: AttachmentEntry, *, external: bool = False) -> str:
    return url_for(".attachment", attachment_id=attachment.id, filename=attachment.filename, _external=external)


def _body(post: PostEntry, *, remote_images: bool, external: bool = False) -> RenderedBody:
    inline = {a.content_id.strip("<>"): _attachment_url(a, external=external) for a in post.attachments if a.content_id}
    return post_html(post.html, inline, remote_images=remote_images)


# Pages ------------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    """A way in for everyone: the catalogue; a signed-in member's own communities; and, for
    whoever belongs to none yet, the few most lately active (a page of the catalogue, so it
    stays as cheap with 1,500 communities as with 5)."""
    viewer = _viewer_id()
    mine = None
    with state().readers() as db:
        if viewer is not None:
            mine = catalogue.communities_of(db, viewer)
        active = []
        if not mine:  # somewhere to start, for whoever belongs nowhere yet
            active = catalogue.catalogue(db, viewer, sort=catalogue.Sort.activity, per_page=HOME_ACTIVE).entries
        managed = managed_by(db, viewer)
    return render_template("archive/home.html", mine=mine, active=active, managed=managed)


@bp.get("/communities")
def communities() -> str:
    """The catalogue: every community the visitor may find, searched, filtered and sorted."""
    form = CatalogueForm.read(request.args)
    with state().readers() as db:
        found = catalogue.catalogue(
            db,
            _viewer_id(),
            q=form.q,
            category=form.category,
            sort=form.sort,
            page=form.page,
            per_page=COMMUNITIES_PER_PAGE,
            language=i18n.current_language(),
        )
    if found.pagination.number > found.pagination.pages:
        abort(404)
    return render_template(
        "archive/communities.html",
        form=form,
        found=found,
        sorts=SORT_NAMES,
        pages=_page_links(found.pagination, ".communities", **form.arguments()),
    )


@dataclass(frozen=True)
class CatalogueForm:
    """The catalogue's query string, read leniently: an unknown sort or page is the default."""

    q: str = ""
    category: str = ""
    sort: catalogue.Sort = catalogue.Sort.activity
    page: int = 1

    @classmethod
    def read(cls, args: Mapping[str, str]) -> CatalogueForm:
        sort = args.get("sort", "")
        return cls(
            q=args.get("q", "").strip()[:200],
            category=args.get("category", "").strip()[:200],
            sort=catalogue.Sort(sort) if sort in catalogue.Sort.__members__ else catalogue.Sort.activity,
            page=page_number(args),
        )

    def arguments(self) -> dict[str, str]:
        """The choices as query-string arguments, for the links to other pages."""
        named = {"q": self.q, "category": self.category}
        if self.sort is not catalogue.Sort.activity:
            named["sort"] = self.sort.value
        return {key: value for key, value in named.items() if value}


@bp.get("/c/<slug>/")
def community(slug: str) -> str:
    """A community's threads; for a restricted one and a non-member, its name and purpose
    only, with the form that asks to join."""
    with state().readers() as db:
        listed, membership = archive.listed_community(db, slug, _viewer_id())
        if not can_read(listed, membership):
            return render_template("archive/community.html", community=listed, members_only=True)
        readable = archive.readable_community(db, slug, _viewer_id())
        listing = archive.thread_list(db, readable.community.id, page_number(request.args), THREADS_PER_PAGE)
        waiting = awaiting(db, readable.community) if can_moderate(readable.membership) else None
    if listing.pagination.number > listing.pagination.pages:
        abort(404)
    return render_template(
        "archive/community.html",
        community=readable.community,
        addresses=list_addresses(readable.community.slug, state().site.mail_domain),
        is_member=readable.is_member,
        waiting=waiting,
        threads=listing.threads,
        pages=_page_links(listing.pagination, ".community", slug=readable.community.slug),
    )


@bp.get("/c/<slug>/t/<int:thread_id>")
def thread(slug: str, thread_id: int) -> ResponseReturnValue:
    remote_images = request.args.get("images") == "1"
    with state().readers() as db:
        try:
            readable, found = archive.readable_community_thread(db, slug, thread_id, _viewer_id())
        except NotFound:
            # A thread merged into another (a reply came before its parent): its address is
            # in mail already sent, so it leads on, for a visitor who may read the other.
            target = threads.merged_into(db, thread_id)
            if target is None:
                raise
            archive.readable_community_thread(db, slug, target, _viewer_id())
            # Only the page's own option goes along: a query string must not choose the target.
            options: dict[str, Any] = {"images": "1"} if remote_images else {}
            return redirect(url_for(".thread", slug=slug, thread_id=target, **options), 301)
        moderator = can_moderate(readable.membership)
        posts = archive.thread_posts(db, found.id, deleted_too=True, hidden_too=moderator)
    viewer, settings = _viewer_id(), state().site.settings
    editable = {post.id for post in posts if takedown.may_change_own(post, viewer, settings)}
    bodies = {post.id: _body(post, remote_images=remote_images) for post in posts}
    response = make_response(
        render_template(
            "archive/thread.html",
            community=readable.community,
            thread=found,
            posts=posts,
            posts_by_id={post.id: post for post in posts},
            bodies=bodies,
            is_member=readable.is_member,
            moderator=moderator,
            editable=editable,
            may_manage=can_moderate(readable.membership),
            remote_images=remote_images,
            remote_images_held_back=sum(b.remote_images for b in bodies.values()),
        )
    )
    if remote_images:
        response.headers["Content-Security-Policy"] = _allowing_remote_images(_site_csp())
    return response


@bp.get("/c/<slug>/t/<int:thread_id>/<int:post_id>")
def post(slug: str, thread_id: int, post_id: int) -> ResponseReturnValue:
    """A post's own address, as mail in Welsh links it (``forum.mail_links``): its place in
    its thread, whose page says whether the visitor may read it. The page's language, when
    the link chose one, goes along."""
    chosen = request.args.get("lang")
    options: dict[str, Any] = {"lang": chosen} if chosen in i18n.LANGUAGES else {}
    return redirect(url_for(".thread", slug=slug, thread_id=thread_id, _anchor=f"post-{post_id}", **options), 302)


def _site_csp() -> str:
    from web.app import CSP  # imported here: web.app imports this module while it loads

    return CSP


def _allowing_remote_images(csp: str) -> str:
    """The site's policy with images from anywhere allowed: only for a reader who asked."""
    directives = [d.strip() for d in csp.split(";") if d.strip()]
    return "; ".join(f"{d} https: http:" if d.startswith("img-src") else d for d in directives)


@bp.get("/a/<int:attachment_id>/<path:filename>")
def attachment(attachment_id: int, filename: str) -> Response:
    """An attachment's bytes. The name in the URL is for people and download tools; the id decides."""
    with state().readers() as db:
        found = archive.readable_attachment(db, attachment_id, _viewer_id())
    path = state().site.blobs.path_for(found.sha256)
    if not path.is_file():
        abort(404)
    mimetype, inline = served_type(found.content_type)
    response = send_file(
        path,
        mimetype=mimetype,
        as_attachment=not inline,
        download_name=found.filename,
        etag=found.sha256,
        conditional=True,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.private = True  # a private community's file must not sit in a shared cache
    if not inline:
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def served_type(declared: str) -> tuple[str, bool]:
    """(Content-Type to send, show inline?) for a stored attachment's declared type."""
    kind = declared.split(";")[0].strip().lower()
    if kind in INLINE_TYPES:
        return kind, True
    if not _MIME_TYPE.match(kind):
        return "application/octet-stream", False
    if any(word in kind for word in ACTIVE_TYPE_WORDS):
        return "text/plain; charset=utf-8", False
    return kind, False


# Search -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchForm:
    """The search page's query string, read leniently: a bad value is explained, never a 500."""

    q: str = ""
    community: str = ""
    author: str = ""
    since: str = ""
    until: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, args: Mapping[str, str]) -> SearchForm:
        values = {
            name: args.get(key, "").strip()
            for name, key in (
                ("q", "q"),
                ("community", "community"),
                ("author", "author"),
                ("since", "from"),
                ("until", "to"),
            )
        }
        errors = {
            name: _("Enter a date like 2024-03-31")
            for name in ("since", "until")
            if values[name] and query_date(values[name]) is None
        }
        return cls(**values, page=page_number(args, MAX_RESULT_PAGE), errors=errors)

    def arguments(self) -> dict[str, str]:
        """The filters as query-string arguments, for the links to other pages of results."""
        named = {"q": self.q, "community": self.community, "author": self.author, "from": self.since, "to": self.until}
        return {key: value for key, value in named.items() if value}


@bp.get("/search")
def search() -> str:
    form = SearchForm.read(request.args)
    results = pages = None
    if form.q and not form.errors:
        with state().readers() as db:
            results = search_posts(
                db,
                _viewer_id(),
                form.q,
                community=form.community or None,
                author=form.author or None,
                since=query_date(form.since),
                until=query_date(form.until),
                zone=_reader_zone(),
                limit=RESULTS_PER_PAGE,
                offset=(form.page - 1) * RESULTS_PER_PAGE,
            )
        pages = _page_links(Pagination(form.page, RESULTS_PER_PAGE, results.total), ".search", **form.arguments())
    return render_template("archive/search.html", form=form, results=results, pages=pages)


# Feed and mbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    id: str
    url: str
    title: str
    author: str
    updated: datetime
    content: str  # HTML, escaped by the template into the feed's XML
    lang: str | None  # its xml:lang, when its language is known and not the feed's


def _xml_text(text: str) -> str:
    """Text without the control characters XML 1.0 forbids (mail has them; feed readers choke)."""
    return _XML_INVALID.sub("", text)


@bp.get("/c/<slug>/feed.atom")
def feed(slug: str) -> Response:
    with state().readers() as db:
        community = archive.readable_community(db, slug, _viewer_id()).community
        posts = archive.latest_posts(db, community.id, FEED_ENTRIES)
    tag = f"tag:{state().site.mail_domain},{community.created_at:%Y-%m-%d}:{community.slug}"
    feed_lang = i18n.content_language(community.language)  # none for a bilingual community
    entries = [
        FeedEntry(
            id=f"{tag}/post/{post.id}",
            url=url_for(
                ".thread", slug=community.slug, thread_id=post.thread_id, _anchor=f"post-{post.id}", _external=True
            ),
            title=_xml_text(post.subject),
            author=_xml_text(post.author),
            updated=post.created_at,
            content=_xml_text(_body(post, remote_images=False, external=True).html),
            lang=lang if (lang := i18n.content_language(post.language)) != feed_lang else None,
        )
        for post in posts
    ]
    xml = render_template(
        "archive/feed.xml",
        community=community,
        entries=entries,
        feed_id=tag,
        feed_lang=feed_lang,
        title=_xml_text(community.name),
        updated=entries[0].updated if entries else community.created_at,
    )
    return Response(xml, mimetype="application/atom+xml")


@bp.get("/c/<slug>/t/<int:thread_id>.mbox")
def thread_mbox(slug: str, thread_id: int) -> Response | tuple[str, int]:
    with state().readers() as db:
        readable, found = archive.readable_community_thread(db, slug, thread_id, _viewer_id())
    if not readable.is_member:
        return _members_only(readable.community)
    blobs = state().site.blobs
    originals = can_moderate(readable.membership)
    return _mbox(
        f"{readable.community.slug}-thread-{found.id}.mbox",
        lambda db: archive.thread_mbox(db, found.id, blobs, originals=originals),
    )


@bp.get("/c/<slug>/archive.mbox")
def community_mbox(slug: str) -> Response | tuple[str, int]:
    with state().readers() as db:
        readable = archive.readable_community(db, slug, _viewer_id())
    if not readable.is_member:
        return _members_only(readable.community)
    blobs = state().site.blobs
    community_id, originals = readable.community.id, can_moderate(readable.membership)
    return _mbox(
        f"{readable.community.slug}.mbox",
        lambda db: archive.community_mbox(db, community_id, blobs, originals=originals),
    )


def _members_only(community: Community) -> tuple[str, int]:
    return render_template("archive/members_only.html", community=community), 403


def _mbox(filename: str, export: Callable[[Session], Iterator[bytes]]) -> Response:
    """Stream an export from its own session: the response outlives the view's session."""

    def generate() -> Iterator[bytes]:
        with state().readers() as db:
            yield from export(db)

    return Response(
        stream_with_context(generate()),
        mimetype="application/mbox",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
