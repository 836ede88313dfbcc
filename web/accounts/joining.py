"""Joining a community from its page: an address and a delivery choice, confirmed by a
mailed link (``forum.joining``); one button for someone signed in, whose address we know.

The answer to an address is always the same "check your email" page, member or not, so
the form tells nobody who belongs to what; a private community is not found here, as
everywhere else. The form's radio buttons say in plain words what each choice brings and
when a digest comes, in the visitor's own time zone and hour when they have chosen them.
"""

from __future__ import annotations

from typing import Any

from babel.dates import get_day_names, get_timezone_location
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from forum import accounts, joining, subscriptions, times
from forum.config import WEEKDAYS
from forum.errors import RateLimited
from forum.models import Community, Delivery, User
from forum.posting import no_community
from web import i18n
from web.accounts.forms import JoinForm
from web.accounts.lookup import Place, place
from web.accounts.taking_part import joined_message, main_address
from web.accounts.views import bp
from web.auth import current_user
from web.state import state, writing


@bp.app_template_global()
def catalogue_path() -> str:
    """Where to find a community to join (the list of communities), for the sign-in pages."""
    return accounts.CATALOGUE_PATH


@bp.app_template_global()
def new_join_form() -> JoinForm:
    """An empty join form, for the community page's include."""
    return JoinForm(formdata=None)


@bp.app_template_global()
def delivery_hints() -> dict[str, str]:
    """What each delivery choice brings, said plainly: when a digest comes, and in whose time."""
    settings = state().site.settings
    user = current_user()
    hour = user.digest_hour if user is not None and user.digest_hour is not None else settings.digest.hour
    zone = times.reader_zone(user.timezone if user is not None else None, settings)
    locale = i18n.current_language()
    values = {
        "time": f"{hour:02d}:00",
        "zone": get_timezone_location(zone, locale=locale),
        "day": get_day_names("wide", locale=locale)[WEEKDAYS.index(settings.digest.weekday)],
    }
    return {
        Delivery.each.value: _("Each post comes to you by email on its own, as soon as it is posted."),
        Delivery.daily.value: _("At about %(time)s (%(zone)s). None on days with nothing new.", **values),
        Delivery.weekly.value: _("Each %(day)s at about %(time)s (%(zone)s).", **values),
        Delivery.none.value: _("Read it on the web. You can still post by email."),
    }


@bp.app_template_global()
def current_user_email() -> str:
    """The signed-in person's main address: the one a one-button join joins with."""
    user = current_user()
    if user is None:
        return ""
    with state().readers() as db:
        return main_address(db.get_one(User, user.id))


@bp.route("/c/<slug>/join", methods=["GET", "POST"])
def join(slug: str) -> Any:
    """The join form on a page of its own (GET), and where every join form posts.

    Someone signed in joins at once, as themselves; anyone else gives an address and gets a
    link to confirm it. Either way the delivery chosen is the one the membership starts with.
    """
    with state().readers() as db:
        community = _joinable(db, slug).community
    signed_in = current_user() is not None
    form = JoinForm()
    if signed_in:
        del form.email  # their address is known: they join as themselves
    if not form.validate_on_submit():
        return _join_page(community, form)
    delivery = Delivery(form.delivery.data)
    if signed_in:
        return _join_as_me(slug, delivery)
    try:
        with writing() as db:
            joining.ask_to_join(
                db,
                state().site,
                _joinable(db, slug).community,
                form.email.data,
                delivery,
                request.remote_addr or "unknown",
                i18n.current_language(),
            )
    except RateLimited:
        form.form_errors.append(
            _(
                "Too many requests to join have been made, for this address or from your network, "
                "in the last hour. Please try again later."
            )
        )
        return _join_page(community, form, 429)
    return render_template(
        "accounts/join_check_email.html",
        community=community,
        email=form.email.data,
        days=subscriptions.CONFIRM_TTL.days,
    )


def _joinable(db: Session, slug: str) -> Place:
    """The community if a visitor may join it from the web; a private one is not found."""
    here = place(db, slug)
    if here.community.is_private:
        raise no_community(slug)
    return here


def _join_page(community: Community, form: JoinForm, status: int | None = None) -> tuple[str, int]:
    return render_template("accounts/join.html", community=community, form=form), status or (
        400 if form.errors else 200
    )


def _join_as_me(slug: str, delivery: Delivery) -> Any:
    with writing() as db:
        here = _joinable(db, slug)
        user = here.user
        assert user is not None
        membership = accounts.join(db, state().site, user, here.community)
        if here.membership is None:  # a member already keeps the choice they made before
            membership.delivery = delivery
        flash(joined_message(here.community, user, membership.status), "success")
    return redirect(url_for("archive.community", slug=slug), 303)
