"""Taking things down: an author's edit or deletion, a member's report, a facilitator's
hiding of a post or thread, bans, open reports and the moderation log.

Each change is a POST with its CSRF token, asked for on a page of its own (no script
needed to confirm), and done by the core (:mod:`forum.takedown`, :mod:`forum.reports`),
as the command line does it. Whoever may not do something is answered "not found",
exactly as for a post that does not exist: a guessed address learns nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from forum import moderation_log, reports, takedown
from forum.access import can_moderate
from forum.errors import InvalidInput, ListbridgeError, NotFound
from forum.models import Membership, MemberStatus, Post, PostStatus, Thread, User, UserEmail
from forum.moderation_log import Actor
from web.accounts.forms import sentence
from web.accounts.lookup import Place, place
from web.accounts.views import refused
from web.archive.views import _page_links, not_found
from web.auth import login_required
from web.query import page_number
from web.state import state, writing
from web.takedown.forms import ConfirmForm, EditForm, ReasonForm, ReportForm

bp = Blueprint("takedown", __name__, template_folder="templates", url_prefix="/c/<slug>")
bp.register_error_handler(NotFound, not_found)
bp.register_error_handler(ListbridgeError, refused)

LOG_PER_PAGE = 50


def _post(db: Session, here: Place, post_id: int, *, hidden_too: bool = False) -> Post:
    """A post of this community that readers see (and, with ``hidden_too``, one hidden)."""
    post = db.get(Post, post_id)
    shown = (PostStatus.published, PostStatus.hidden) if hidden_too else (PostStatus.published,)
    if post is None or post.community_id != here.community.id or post.status not in shown:
        raise NotFound("there is no such post here")
    return post


def _moderating(db: Session, slug: str) -> Place:
    """The community, if the signed-in person moderates it; "not found" for anyone else."""
    here = place(db, slug)
    if not can_moderate(here.membership):
        raise NotFound(f'there is no community "{slug}" here')
    return here


def _actor(db: Session, here: Place) -> Actor:
    assert here.user is not None  # login_required
    return Actor.of(db, here.user)


def _to_post(slug: str, post: Post, message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("archive.thread", slug=slug, thread_id=post.thread_id, _anchor=f"post-{post.id}"), 303)


def _to_thread(slug: str, thread_id: int, message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("archive.thread", slug=slug, thread_id=thread_id), 303)


# An author's own post -------------------------------------------------------------------


@bp.route("/p/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str, post_id: int) -> Any:
    settings = state().site.settings
    with state().readers() as db:
        here = place(db, slug)
        post = _post(db, here, post_id)
        if not takedown.may_change_own(post, here.user.id if here.user else None, settings):
            raise NotFound("there is no such post here")
        form = EditForm(body=post.body)
        if not form.validate_on_submit():
            page = render_template(
                "takedown/edit.html",
                community=here.community,
                post=post,
                form=form,
                window=settings.posting.edit_window_minutes,
            )
            return page, 400 if form.errors else 200
    with writing() as db:
        here = place(db, slug)
        post = _post(db, here, post_id)
        assert here.user is not None
        takedown.edit_own(db, settings, here.user, post, form.body.data or "")
    return _to_post(slug, post, _("Your message is changed on the web, in search and in chat."))


@bp.route("/p/<int:post_id>/delete", methods=["GET", "POST"])
@login_required
def delete(slug: str, post_id: int) -> Any:
    settings = state().site.settings
    form = ConfirmForm()
    with state().readers() as db:
        here = place(db, slug)
        post = _post(db, here, post_id)
        if not takedown.may_change_own(post, here.user.id if here.user else None, settings):
            raise NotFound("there is no such post here")
        if not form.validate_on_submit():
            return render_template("takedown/delete.html", community=here.community, post=post, form=form)
    with writing() as db:
        here = place(db, slug)
        post = _post(db, here, post_id)
        assert here.user is not None
        takedown.delete_own(db, settings, here.user, post)
    return _to_thread_or_community(slug, post, _("Your message is deleted."))


def _to_thread_or_community(slug: str, post: Post, message: str) -> Response:
    """Back to the thread, unless it has no post left to show."""
    with state().readers() as db:
        thread = db.get(Thread, post.thread_id)
        left = thread is not None and thread.post_count > 0
    if left:
        return _to_thread(slug, post.thread_id, message)
    flash(message, "success")
    return redirect(url_for("archive.community", slug=slug), 303)


# Reports --------------------------------------------------------------------------------


@bp.route("/p/<int:post_id>/report", methods=["GET", "POST"])
@login_required
def report(slug: str, post_id: int) -> Any:
    form = ReportForm()
    with state().readers() as db:
        here = place(db, slug)
        if here.membership is not None and here.membership.status is MemberStatus.banned:
            raise NotFound("there is no such post here")
        post = _post(db, here, post_id)
        if not form.validate_on_submit():
            page = render_template("takedown/report.html", community=here.community, post=post, form=form)
            return page, 400 if form.errors else 200
    try:
        with writing() as db:
            here = place(db, slug)
            post = _post(db, here, post_id)
            assert here.user is not None
            reports.report_post(db, state().site, here.user, post, form.reason.data or "")
    except InvalidInput as exc:  # reported already
        form.reason.errors = [sentence(exc.message)]
        with state().readers() as db:
            here = place(db, slug)
            page = render_template(
                "takedown/report.html", community=here.community, post=_post(db, here, post_id), form=form
            )
        return page, 400
    return _to_post(slug, post, _("Thank you: the facilitators have been told and will look at it."))


@bp.route("/manage/reports")
@login_required
def open_reports(slug: str) -> Any:
    with state().readers() as db:
        here = _moderating(db, slug)
        found = reports.open_reports(db, here.community)
        return render_template("takedown/reports.html", community=here.community, reports=found, section="open_reports")


@bp.route("/manage/reports/<int:report_id>", methods=["POST"])
@login_required
def resolve(slug: str, report_id: int) -> Any:
    action = request.form.get("action")
    if action not in ("hide", "dismiss"):
        raise BadRequest("unknown action")
    try:
        with writing() as db:
            here = _moderating(db, slug)
            reports.resolve(db, _actor(db, here), here.community, report_id, hide=action == "hide")
    except InvalidInput as exc:  # answered already (another facilitator, a second click)
        flash(sentence(exc.message), "error")
        return redirect(url_for(".open_reports", slug=slug), 303)
    flash(_("The post is hidden.") if action == "hide" else _("The report is dismissed."), "success")
    return redirect(url_for(".open_reports", slug=slug), 303)


# Hiding ---------------------------------------------------------------------------------


@bp.route("/p/<int:post_id>/hide", methods=["GET", "POST"])
@login_required
def hide(slug: str, post_id: int) -> Any:
    form = ReasonForm()
    with state().readers() as db:
        here = _moderating(db, slug)
        post = _post(db, here, post_id)
        if not form.validate_on_submit():
            page = render_template("takedown/hide.html", community=here.community, post=post, thread=None, form=form)
            return page, 400 if form.errors else 200
    with writing() as db:
        here = _moderating(db, slug)
        post = _post(db, here, post_id)
        takedown.hide_post(db, _actor(db, here), post, form.reason.data or "")
    return _to_post(slug, post, _("The post is hidden from everyone but the facilitators."))


@bp.route("/p/<int:post_id>/unhide", methods=["POST"])
@login_required
def unhide(slug: str, post_id: int) -> Any:
    try:
        with writing() as db:
            here = _moderating(db, slug)
            post = _post(db, here, post_id, hidden_too=True)
            takedown.unhide_post(db, _actor(db, here), post)
    except InvalidInput as exc:
        flash(sentence(exc.message), "error")
        return redirect(url_for("archive.thread", slug=slug, thread_id=post.thread_id), 303)
    return _to_post(slug, post, _("The post is shown again."))


def _thread(db: Session, here: Place, thread_id: int) -> Thread:
    thread = db.get(Thread, thread_id)
    if thread is None or thread.community_id != here.community.id:
        raise NotFound("there is no such thread here")
    return thread


@bp.route("/t/<int:thread_id>/hide", methods=["GET", "POST"])
@login_required
def hide_thread(slug: str, thread_id: int) -> Any:
    form = ReasonForm()
    with state().readers() as db:
        here = _moderating(db, slug)
        thread = _thread(db, here, thread_id)
        if thread.post_count < 1:
            raise NotFound("there is no such thread here")
        if not form.validate_on_submit():
            page = render_template("takedown/hide.html", community=here.community, post=None, thread=thread, form=form)
            return page, 400 if form.errors else 200
    with writing() as db:
        here = _moderating(db, slug)
        takedown.hide_thread(db, _actor(db, here), _thread(db, here, thread_id), form.reason.data or "")
    return _to_thread(slug, thread_id, _("The thread is hidden from everyone but the facilitators."))


@bp.route("/t/<int:thread_id>/unhide", methods=["POST"])
@login_required
def unhide_thread(slug: str, thread_id: int) -> Any:
    try:
        with writing() as db:
            here = _moderating(db, slug)
            takedown.unhide_thread(db, _actor(db, here), _thread(db, here, thread_id))
    except InvalidInput as exc:  # shown again already (another facilitator, a second click)
        flash(sentence(exc.message), "error")
        return redirect(url_for("archive.thread", slug=slug, thread_id=thread_id), 303)
    return _to_thread(slug, thread_id, _("The thread is shown again."))


# Bans -----------------------------------------------------------------------------------


def _member(db: Session, here: Place, user_id: int) -> tuple[User, str]:
    """A member of this community (any standing) and their main address."""
    found = db.execute(
        select(User, UserEmail.email)
        .join(Membership, Membership.user_id == User.id)
        .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
        .where(Membership.community_id == here.community.id, Membership.user_id == user_id)
    ).first()
    if found is None:
        raise NotFound("there is no such member here")
    return found[0], found[1]


@bp.route("/manage/members/<int:user_id>/ban", methods=["GET", "POST"])
@login_required
def ban(slug: str, user_id: int) -> Any:
    form = ReasonForm()
    with state().readers() as db:
        here = _moderating(db, slug)
        user, email = _member(db, here, user_id)
        if not form.validate_on_submit():
            page = render_template(
                "takedown/ban.html", community=here.community, member=user, email=email, form=form, section="members"
            )
            return page, 400 if form.errors else 200
    try:
        with writing() as db:
            here = _moderating(db, slug)
            takedown.ban(db, _actor(db, here), here.community, email, form.reason.data or "")
    except InvalidInput as exc:
        flash(sentence(exc.message), "error")
        return redirect(url_for("manage.members", slug=slug), 303)
    flash(
        _("%(name)s is banned: they get no mail from the community and cannot post.", name=user.display_name or email),
        "success",
    )
    return redirect(url_for("manage.members", slug=slug), 303)


@bp.route("/manage/members/<int:user_id>/unban", methods=["POST"])
@login_required
def unban(slug: str, user_id: int) -> Any:
    try:
        with writing() as db:
            here = _moderating(db, slug)
            user, email = _member(db, here, user_id)
            takedown.unban(db, _actor(db, here), here.community, email)
    except InvalidInput as exc:
        flash(sentence(exc.message), "error")
        return redirect(url_for("manage.members", slug=slug), 303)
    flash(_("%(name)s is no longer banned.", name=user.display_name or email), "success")
    return redirect(url_for("manage.members", slug=slug), 303)


# The log --------------------------------------------------------------------------------


@bp.route("/manage/log")
@login_required
def log(slug: str) -> Any:
    with state().readers() as db:
        here = _moderating(db, slug)
        page = moderation_log.entries(db, here.community, page_number(request.args), LOG_PER_PAGE)
        if page.pagination.number > page.pagination.pages:
            raise NotFound("there is no such page")
        return render_template(
            "takedown/log.html",
            community=here.community,
            lines=page.lines,
            pages=_page_links(page.pagination, ".log", slug=here.community.slug),
            section="log",
        )
