"""/people (the directory, for signed-in members), /people/<id> (a profile) and its photo,
and /account/public-profile, where a member keeps their own.

A profile the viewer may not see is the same 404 as one that does not exist, photo
included: guessing ids tells nobody who has chosen "nobody".
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from forum import people_search, profiles
from forum.blobs import BlobStore
from forum.errors import InvalidInput, NotFound
from forum.models import Profile, ProfileVisibility
from forum.photos import MAX_UPLOAD_BYTES, prepare_photo
from web.accounts.forms import sentence
from web.auth import current_user, login_required
from web.people.forms import PublicProfileForm
from web.query import page_number
from web.state import state, writing

bp = Blueprint("people", __name__, template_folder="templates")


def _viewer_id() -> int:
    user = current_user()
    assert user is not None  # login_required
    return user.id


@bp.get("/people")
@login_required
def directory() -> str:
    question = request.args.get("q", "").strip()[:200]
    number = page_number(request.args)
    with state().readers() as db:
        found = people_search.find_people(db, _viewer_id(), question, offset=(number - 1) * people_search.PAGE)
    return render_template("people/directory.html", question=question, found=found, number=number)


@bp.get("/people/<int:user_id>")
@login_required
def person(user_id: int) -> str:
    with state().readers() as db:
        try:
            card = profiles.card_for(db, _viewer_id(), user_id)
        except NotFound:
            abort(404)
    return render_template("people/person.html", card=card, mine=user_id == _viewer_id())


@bp.get("/people/<int:user_id>/photo")
@login_required
def photo(user_id: int) -> Response:
    with state().readers() as db:
        try:
            profiles.card_for(db, _viewer_id(), user_id)
        except NotFound:
            abort(404)
        digest = db.scalar(select(Profile.photo_sha256).where(Profile.user_id == user_id))
    if not digest:
        abort(404)
    response = Response(_blobs().get(digest), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/account/public-profile", methods=["GET", "POST"])
@login_required
def edit() -> Any:
    if request.method == "GET":
        return _edit_page(_filled_form())
    form = PublicProfileForm()
    if not form.validate_on_submit():
        return _edit_page(form, 400)
    photo_digest = None
    upload = form.photo.data
    if upload and getattr(upload, "filename", ""):
        try:
            photo_digest = _blobs().put(prepare_photo(upload.read(MAX_UPLOAD_BYTES + 1)))
        except InvalidInput as exc:
            form.photo.errors = [sentence(exc.message)]
            return _edit_page(form, 400)
    with writing() as db:
        profile = profiles.profile_of(db, _viewer_id())
        profile.organisation = (form.organisation.data or "").strip()
        profile.job_title = (form.job_title.data or "").strip()
        profile.region = (form.region.data or "").strip()
        profile.bio = (form.bio.data or "").strip()
        profile.links = profiles.check_links(form.links.data or "")
        profile.visibility = ProfileVisibility(form.visibility.data)
        profile.show_email = bool(form.show_email.data)
        if photo_digest:
            profile.photo_sha256 = photo_digest
        elif form.remove_photo.data:
            profile.photo_sha256 = None
        profiles.set_expertise(db, profile.user_id, profiles.parse_expertise(form.expertise.data or ""))
    flash(_("Your profile is saved."), "success")
    return redirect(url_for(".edit"), 303)


def _blobs() -> BlobStore:
    return state().site.blobs


def _filled_form() -> PublicProfileForm:
    with state().readers() as db:
        user_id = _viewer_id()
        profile = db.get(Profile, user_id)
        expertise = profiles.expertise_of(db, user_id)
    form = PublicProfileForm(formdata=None, obj=profile)
    form.visibility.data = (profile.visibility if profile else ProfileVisibility.shared).value
    form.expertise.data = "; ".join(expertise)
    return form


def _edit_page(form: PublicProfileForm, status: int = 200) -> tuple[str, int]:
    with state().readers() as db:
        known = profiles.known_expertise(db)
        card = profiles.cards(db, [_viewer_id()])[_viewer_id()]
    return render_template("people/edit.html", form=form, known=known, card=card), status
