"""``/communities/request``: a signed-in member asks for a new community (``forum.community_requests``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _

from forum import community_requests
from forum.errors import InvalidInput
from forum.models import Visibility
from web.accounts.forms import sentence
from web.accounts.lookup import signed_in
from web.accounts.views import message_page
from web.admin.forms import RequestForm
from web.auth import current_user, login_required
from web.state import state, writing

bp = Blueprint("community_requests", __name__, template_folder="templates")


@bp.route("/communities/request", methods=["GET", "POST"])
@login_required
def ask() -> Any:
    form = RequestForm()
    if not form.validate_on_submit():
        return _page(form)
    slug = form.slug.data = form.slug.data or community_requests.suggested_slug(form.name.data)
    try:
        with state().readers() as db:
            community_requests.check_slug(db, slug)
    except InvalidInput as exc:
        form.slug.errors = [*form.slug.errors, sentence(exc.message)]
        return _page(form)
    try:
        with writing() as db:
            user = signed_in(db)
            assert user is not None  # login_required
            community_requests.ask(
                db,
                state().site,
                user,
                slug=slug,
                name=form.name.data,
                description=form.description.data or "",
                category=form.category.data or "",
                visibility=Visibility(form.visibility.data),
            )
    except InvalidInput as exc:  # too many waiting, or the address taken a moment ago
        form.form_errors.append(sentence(exc.message))
        return _page(form)
    return message_page(
        _("Request sent"),
        _(
            "Thank you. The site administrators will look at your request for %(name)s; you will get an email "
            "when they decide.",
            name=form.name.data.strip(),
        ),
    )


def _page(form: RequestForm) -> tuple[str, int]:
    user = current_user()
    assert user is not None
    with state().readers() as db:
        asked = community_requests.requests_of(db, user.id)
        page = render_template("admin/request.html", form=form, asked=asked, mail_domain=state().site.mail_domain)
    return page, 400 if form.errors else 200
