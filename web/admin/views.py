"""``/admin/``: the site administrators' pages (``listbridge site admin add`` names them).

Requests for new communities, every community (edit, archive, delete), and overviews of
held posts and bouncing mail across communities. To anyone else every address here is
"not found", exactly as a page that does not exist: the pages' existence is not told.
Each action calls the core function the command line calls.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from forum import catalogue, community_requests, site_overview
from forum.community_deletion import delete_saving_first
from forum.directory import edit_community, set_archived
from forum.errors import InvalidInput, ListbridgeError
from forum.models import Visibility
from forum.posting import community_by_slug
from web.accounts.forms import sentence
from web.accounts.lookup import signed_in
from web.accounts.views import refused
from web.admin.forms import CommunityForm, DecisionForm
from web.archive.views import _page_links
from web.auth import current_user
from web.query import page_number
from web.state import state, writing

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/admin")
bp.register_error_handler(ListbridgeError, refused)

PER_PAGE = 50


@bp.before_request
def only_site_admins() -> None:
    user = current_user()
    if user is None or not user.is_site_admin:
        abort(404)


def _back(endpoint: str, message: str, category: str = "success", **args: Any) -> Response:
    flash(message, category)
    return redirect(url_for(endpoint, **args), 303)


@bp.get("/")
def overview() -> str:
    with state().readers() as db:
        waiting = len(community_requests.pending(db))
        held = site_overview.held_by_community(db)
        bouncing = site_overview.bouncing_members(db, 1, 1).pagination.total
    return render_template(
        "admin/overview.html", waiting=waiting, held=sum(h.held for h in held), bouncing=bouncing, section="overview"
    )


# Requests for new communities -------------------------------------------------------------


@bp.get("/requests")
def requests() -> str:
    with state().readers() as db:
        waiting = [
            (r, community_requests.primary_email(r.user), DecisionForm(formdata=None, prefix=f"request-{r.id}"))
            for r in community_requests.pending(db)
        ]
        return render_template(
            "admin/requests.html", waiting=waiting, mail_domain=state().site.mail_domain, section="requests"
        )


@bp.post("/requests/<int:request_id>")
def decide(request_id: int) -> Response:
    """Approve a request (the community is made, its requester its facilitator) or decline it."""
    action = request.form.get("action")
    if action not in ("approve", "decline"):
        raise BadRequest("unknown action")
    form = DecisionForm(prefix=f"request-{request_id}")
    if not form.validate():
        return _back(".requests", " ".join(map(str, form.note.errors)), "error")
    note = (form.note.data or "").strip()
    try:
        with writing() as db:
            admin = signed_in(db)
            assert admin is not None  # only_site_admins
            if action == "approve":
                community = community_requests.approve(db, state().site, request_id, admin, note)
                message = _(
                    "%(name)s is made; its requester is its facilitator and has been told.", name=community.name
                )
            else:
                declined = community_requests.decline(db, request_id, admin, note)
                message = _("The request for %(name)s is declined; its requester has been told.", name=declined.name)
    except InvalidInput as exc:  # decided already, or the address was taken since
        return _back(".requests", sentence(exc.message), "error")
    return _back(".requests", message)


# Every community ------------------------------------------------------------------------


@bp.get("/communities")
def communities() -> str:
    q = request.args.get("q", "").strip()[:200]
    with state().readers() as db:
        found = catalogue.catalogue(
            db, None, q=q, sort=catalogue.Sort.name, page=page_number(request.args), per_page=PER_PAGE, everything=True
        )
    if found.pagination.number > found.pagination.pages:
        abort(404)
    pages = _page_links(found.pagination, ".communities", **({"q": q} if q else {}))
    return render_template("admin/communities.html", q=q, found=found, pages=pages, section="communities")


@bp.route("/communities/<slug>", methods=["GET", "POST"])
def community(slug: str) -> Any:
    with state().readers() as db:
        found = community_by_slug(db, slug)
    form = CommunityForm(obj=found)
    if not form.validate_on_submit():
        page = render_template("admin/community.html", community=found, form=form, section="communities")
        return page, 400 if form.errors else 200
    with writing() as db:
        edited = edit_community(
            db,
            community_by_slug(db, slug),
            name=form.name.data,
            description=form.description.data or "",
            category=form.category.data or "",
        )
        edited.visibility = Visibility(form.visibility.data)
    return _back(".community", _("Saved."), slug=slug)


@bp.post("/communities/<slug>/archive")
def archive(slug: str) -> Response:
    archived = request.form.get("archived") == "1"
    with writing() as db:
        found = set_archived(db, community_by_slug(db, slug), archived)
        name = found.name
    if archived:
        return _back(
            ".community", _("%(name)s is archived: it can be read, but takes no new posts.", name=name), slug=slug
        )
    return _back(".community", _("%(name)s is open again for posts.", name=name), slug=slug)


@bp.route("/communities/<slug>/delete", methods=["GET", "POST"])
def delete(slug: str) -> Any:
    """Delete a community after a confirmation, saving its archive and members first (as the CLI does)."""
    with state().readers() as db:
        found = community_by_slug(db, slug)
        name = found.name
    typed = request.form.get("confirm", "").strip().lower()
    if request.method == "GET" or typed != found.slug:
        error = (
            _("Type the community's address, %(slug)s, to delete it.", slug=found.slug)
            if request.method == "POST"
            else ""
        )
        page = render_template("admin/delete.html", community=found, error=error, section="communities")
        return page, 400 if error else 200
    saved = delete_saving_first(state().sessions, state().site, slug)
    return _back(
        ".communities",
        _(
            "%(name)s is deleted. Its archive was saved first as %(mbox)s, its members as %(csv)s.",
            name=name,
            mbox=saved.mbox.name,
            csv=saved.members_csv.name,
        ),
    )


# Overviews ------------------------------------------------------------------------------


@bp.get("/held")
def held() -> str:
    with state().readers() as db:
        waiting = site_overview.held_by_community(db)
    return render_template("admin/held.html", waiting=waiting, section="held")


@bp.get("/bounces")
def bounces() -> str:
    with state().readers() as db:
        found = site_overview.bouncing_members(db, page_number(request.args), PER_PAGE)
    if found.pagination.number > found.pagination.pages:
        abort(404)
    pages = _page_links(found.pagination, ".bounces")
    return render_template("admin/bounces.html", found=found, pages=pages, section="bounces")
