"""Joining a restricted community by request, and any community by invitation.

The rules are the core's (``forum.join_requests``, ``forum.invitations``). A restricted
community's page carries the request form (see ``archive/community.html``); it posts here.
The links mails carry (confirming a visitor's request, an invitation) change nothing on
GET, since mail scanners fetch links: each page asks for a button press, which POSTs. A
link that is not good any more answers 404 and names nothing, whatever the community.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from forum import invitations, join_requests
from forum.errors import InvalidInput, ListbridgeError, RateLimited
from forum.models import Community, Delivery
from forum.posting import community_by_slug
from web.accounts.forms import JoinRequestForm, sentence
from web.accounts.lookup import signed_in
from web.accounts.views import message_page, refused
from web.auth import current_user, sign_in_as
from web.state import state, writing

bp = Blueprint("spaces", __name__, template_folder="templates")
bp.register_error_handler(ListbridgeError, refused)


@bp.app_template_global()
def join_request_form() -> JoinRequestForm:
    """An empty request form, for the restricted community page's include."""
    return JoinRequestForm(formdata=None)


@bp.route("/c/<slug>/request", methods=["GET", "POST"])
def ask(slug: str) -> Any:
    """Ask to join a restricted community: at once when signed in, else after the address
    given is confirmed by a mailed link."""
    with state().readers() as db:
        community = _restricted(db, slug)
    form = JoinRequestForm()
    visitor = current_user() is None
    if not form.validate_on_submit() or (visitor and not form.email.data):
        if request.method == "POST" and visitor and not form.email.data:
            form.email.errors = [*form.email.errors, _("Enter an email address")]
        return _form(community, form)
    delivery = Delivery(form.delivery.data)
    try:
        with writing() as db:
            community = _restricted(db, slug)
            user = signed_in(db)
            if user is None:
                join_requests.ask_by_address(
                    db,
                    state().site,
                    community,
                    form.email.data,
                    form.reason.data,
                    delivery,
                    name=form.name.data or "",
                    client=request.remote_addr or "unknown",
                )
            else:
                join_requests.ask(db, state().site, community, user, form.reason.data, delivery)
    except (InvalidInput, RateLimited) as exc:
        form.form_errors.append(sentence(exc.message))
        return _form(community, form, exc.http_status)
    if visitor:
        return message_page(
            _("Check your email"),
            _(
                "We have sent a link to %(email)s. Follow it to send your request to the facilitators of %(name)s.",
                email=form.email.data,
                name=community.name,
            ),
        )
    flash(
        _(
            "Your request to join %(name)s is with its facilitators. We will email you their answer.",
            name=community.name,
        ),
        "success",
    )
    return redirect(url_for("archive.community", slug=community.slug), 303)


def _restricted(db: Session, slug: str) -> Community:
    """The restricted community at ``slug``; NotFound for a private one, as for a missing one."""
    community = community_by_slug(db, slug)
    join_requests.restricted(community)
    return community


def _form(community: Community, form: JoinRequestForm, status: int | None = None) -> tuple[str, int]:
    page = render_template("accounts/join_request.html", community=community, form=form)
    return page, status or (400 if form.errors or form.form_errors else 200)


@bp.route(f"{join_requests.CONFIRM_PATH}<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    """A visitor's request to join, confirmed from the link mailed to their address."""
    if request.method == "GET":
        with state().readers() as db:
            asked = join_requests.unconfirmed(db, state().site, token)
            community = db.get_one(Community, asked.community_id)
            return render_template("accounts/join_request_confirm.html", community=community, asked=asked)
    with writing() as db:
        done = join_requests.confirm(db, state().site, token)
        name = done.community.name
    if done.member:
        text = _("You are already a member of %(name)s.", name=name)
    else:
        text = _("Your request to join %(name)s is with its facilitators. We will email you their answer.", name=name)
    return message_page(_("Thank you"), text)


@bp.route(f"{invitations.PATH}<token>", methods=["GET", "POST"])
def invitation(token: str) -> Any:
    """An invitation's personal link: GET shows what it is for, the button joins."""
    if request.method == "GET":
        with state().readers() as db:
            invited = invitations.invitation_for(db, token)
            community = db.get_one(Community, invited.community_id)
            return render_template("accounts/invitation.html", community=community, invited=invited)
    with writing() as db:
        user, community = invitations.accept(db, token)
        slug, name = community.slug, community.name
        sign_in_as(db, user.id)
    flash(_("Welcome to %(name)s: you are a member now.", name=name), "success")
    return redirect(url_for("archive.community", slug=slug), 303)
