"""Running a community from the web: members, held messages, requests to join, invitations,
settings, chat links.

Each action calls the function the command line calls (``forum.directory``,
``forum.moderation``, ``forum.accounts``, ``forum.join_requests``, ``forum.invitations``,
``forum.chat``), so a web approval publishes and mails a post
exactly as ``listbridge held approve`` does.
"""

from __future__ import annotations

import io
import re
from enum import Enum
from typing import Any, TypeVar

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from forum import accounts, chat, chat_platforms, invitations, join_requests, moderation, threads
from forum.access import can_moderate, membership_of
from forum.awaiting import Awaiting, awaiting
from forum.directory import add_member, edit_community, member_row
from forum.errors import InvalidInput, ListbridgeError, NotFound, NotPermitted
from forum.models import (
    Community,
    Delivery,
    Membership,
    MemberStatus,
    Post,
    Role,
    User,
    UserEmail,
    Visibility,
)
from forum.moderation_log import Actor
from forum.roster import BounceState, RosterFilter, roster_counts, roster_lines, roster_page, write_roster_csv
from web.accounts.forms import sentence
from web.accounts.lookup import Place, place
from web.accounts.views import refused
from web.archive.views import PageLinks
from web.auth import current_user, login_required
from web.labels import ROLE_NAMES
from web.manage.forms import (
    AddMemberForm,
    ChatLinkForm,
    DecisionForm,
    InviteForm,
    RejectForm,
    RoleForm,
    SettingsForm,
)
from web.query import page_number
from web.state import state, writing

E = TypeVar("E", bound=Enum)

bp = Blueprint("manage", __name__, template_folder="templates", url_prefix="/c/<slug>/manage")
bp.register_error_handler(ListbridgeError, refused)


@bp.app_template_global()
def awaiting_for(community: Community) -> Awaiting | None:
    """What waits for the signed-in person in ``community``, if they may manage it (for
    its "Manage" link and the manage pages' navigation); None if they may not."""
    user = current_user()
    if user is None:
        return None
    with state().readers() as db:
        if not can_moderate(membership_of(db, user, community)):
            return None
        return awaiting(db, community)


def _managed(db: Session, slug: str) -> Place:
    """The community, if the signed-in person may run it (its facilitators and moderators, and
    the site administrators): 404 if they cannot read it, else 403."""
    here = place(db, slug)
    if not can_moderate(here.membership) and not (here.user is not None and here.user.is_site_admin):
        raise NotPermitted(f"only the facilitators and moderators of {here.community.name} can manage it")
    return here


def _back(endpoint: str, slug: str, message: str, category: str = "success") -> Response:
    """Back to a facilitator page, saying what happened (POST, redirect, GET: no resubmission)."""
    flash(message, category)
    return redirect(url_for(endpoint, slug=slug), 303)


# Members --------------------------------------------------------------------------------


@bp.app_template_filter()
def address_breaks(address: str) -> Markup:
    """An email address that a narrow column may wrap after its @ and dots, never inside a
    word (no hyphen is ever added): the places a reader would break it themselves."""
    return Markup("<wbr>").join(escape(part) for part in _BREAK_AFTER.split(address))


_BREAK_AFTER = re.compile(r"(?<=[@.])")


def _roster_filter(args: Any) -> RosterFilter:
    """The filter a members page's query string asks for; a value it does not know is ignored."""

    def chosen(enum: type[E], name: str) -> E | None:
        try:
            return enum(args.get(name, ""))
        except ValueError:
            return None

    return RosterFilter(
        q=args.get("q", "")[:200],
        role=chosen(Role, "role"),
        delivery=chosen(Delivery, "delivery"),
        bounce=chosen(BounceState, "bounce"),
        status=chosen(MemberStatus, "status"),
    )


@bp.route("/members.csv")
@login_required
def members_csv(slug: str) -> Response:
    """The members the page's filter finds, as a spreadsheet: for facilitators only, as it
    holds every address (moderators approve posts; they do not hold the list)."""
    wanted = _roster_filter(request.args)
    with state().readers() as db:
        here = _managed(db, slug)
        if here.membership is None or here.membership.role is not Role.facilitator:
            raise NotPermitted(f"only the facilitators of {here.community.name} can export its members")
        out = io.StringIO()
        write_roster_csv(roster_lines(db, here.community, wanted), out)
        community_slug = here.community.slug
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{community_slug}-members.csv"'},
    )


@bp.route("/members", methods=["GET", "POST"])
@login_required
def members(slug: str) -> Any:
    form = AddMemberForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _members_page(slug, form)
    try:
        with writing() as db:
            community = _managed(db, slug).community
            row = member_row(form.email.data, form.name.data or "", form.role.data, form.delivery.data)
            report = add_member(db, community.slug, row)
    except InvalidInput as exc:
        form.email.errors.append(sentence(exc.said))
        return _members_page(slug, form)
    if report.added:
        done = _("%(email)s: added.", email=row.email)
    elif report.updated:
        done = _("%(email)s: updated.", email=row.email)
    else:
        done = _("%(email)s: already a member, unchanged.", email=row.email)
    return _back(".members", slug, done)


@bp.route("/members/<int:user_id>", methods=["POST"])
@login_required
def member(slug: str, user_id: int) -> Any:
    """Approve a request to join, change a role, or remove someone."""
    action = request.form.get("action")
    try:
        with writing() as db:
            community = _managed(db, slug).community
            if action == "approve":
                accounts.approve_member(db, community, user_id)
                message = _("Request approved: they are a member now.")
            elif action == "remove":
                accounts.remove_member(db, community, user_id)
                message = _("Removed from the community.")
            elif action == "role":
                form = RoleForm(prefix=f"member-{user_id}")
                if not form.validate():
                    raise BadRequest("choose a role")
                accounts.set_role(db, community, user_id, Role(form.role.data))
                message = _("Role changed to %(role)s.", role=ROLE_NAMES[Role(form.role.data)])
            else:
                raise BadRequest("unknown action")
    except InvalidInput as exc:
        return _back(".members", slug, sentence(exc.said), "error")
    return _back(".members", slug, message)


def _members_page(slug: str, form: AddMemberForm) -> tuple[str, int]:
    """One page of the members (50, searched and filtered as the query string says): a
    bounded number of queries however many members the community has."""
    wanted = _roster_filter(request.args)
    with state().readers() as db:
        here = _managed(db, slug)
        community = here.community
        pending = db.execute(
            select(User, UserEmail.email)
            .join(Membership, Membership.user_id == User.id)
            .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
            .where(Membership.community_id == community.id, Membership.status == MemberStatus.pending)
            .order_by(Membership.id)
        ).all()
        listing = roster_page(db, community, wanted, page_number(request.args))
        if listing.page > listing.pages:
            raise NotFound("there is no such page of members")
        lines = [
            (line, RoleForm(formdata=None, prefix=f"member-{line.user_id}", role=line.role.value))
            for line in listing.lines
        ]
        query = {k: v for k, v in request.args.items() if k != "page" and v}
        page = render_template(
            "manage/members.html",
            community=community,
            form=form,
            pending=pending,
            lines=lines,
            listing=listing,
            counts=roster_counts(db, community),
            wanted=wanted,
            query=query,
            may_export=here.membership is not None and here.membership.role is Role.facilitator,
            pages=PageLinks(
                prev_url=_members_url(slug, query, listing.page - 1) if listing.page > 1 else None,
                next_url=_members_url(slug, query, listing.page + 1) if listing.page < listing.pages else None,
                number=listing.page,
                count=listing.pages,
            ),
            section="members",
        )
    return page, 400 if form.errors else 200


def _members_url(slug: str, query: dict[str, Any], number: int) -> str:
    args: dict[str, Any] = {**query, "page": number} if number > 1 else query
    return url_for(".members", slug=slug, **args)


# Held messages --------------------------------------------------------------------------


@bp.route("/held")
@login_required
def held(slug: str) -> Any:
    with state().readers() as db:
        community = _managed(db, slug).community
        posts = [
            (post, RejectForm(formdata=None, prefix=f"post-{post.id}")) for post in moderation.held_posts(db, community)
        ]
        return render_template("manage/held.html", community=community, posts=posts, section="held")


@bp.route("/held/<int:post_id>", methods=["POST"])
@login_required
def decide(slug: str, post_id: int) -> Any:
    """Approve a held message (published and mailed) or reject it (the sender is told why)."""
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        raise BadRequest("unknown action")
    reason = RejectForm(prefix=f"post-{post_id}")
    if action == "reject" and not reason.validate():
        return _back(".held", slug, " ".join(map(str, reason.reason.errors)), "error")
    try:
        with writing() as db:
            here = _managed(db, slug)
            community = here.community
            post = db.get(Post, post_id)
            if post is None or post.community_id != community.id:
                raise NotFound("there is no such message here")
            assert here.user is not None  # login_required
            by = Actor.of(db, here.user)
            if action == "approve":
                copies = moderation.approve(db, state().site, post_id, by=by)
                message = ngettext(
                    "“%(subject)s” is published and on its way to %(num)s member by email.",
                    "“%(subject)s” is published and on its way to %(num)s members by email.",
                    copies,
                    subject=post.subject,
                )
            else:
                moderation.reject(db, post_id, (reason.reason.data or "").strip(), by=by)
                message = _("“%(subject)s” is rejected; the sender has been told.", subject=post.subject)
    except InvalidInput as exc:  # decided already (another facilitator, a second click)
        return _back(".held", slug, sentence(exc.said), "error")
    return _back(".held", slug, message)


# Pinned threads -------------------------------------------------------------------------


@bp.route("/threads/<int:thread_id>/pin", methods=["POST"])
@login_required
def pin(slug: str, thread_id: int) -> Any:
    """Pin a thread to the top of the community page, or unpin it; back to the thread, or
    to the settings page when it was unpinned there."""
    pinned = request.form.get("action") == "pin"
    with writing() as db:
        community = _managed(db, slug).community
        thread = threads.pin(db, community, thread_id, pinned)
        subject = thread.subject
    flash(
        _("“%(subject)s” is pinned to the top of the community page.", subject=subject)
        if pinned
        else _("“%(subject)s” is no longer pinned.", subject=subject),
        "success",
    )
    if request.form.get("back") == "settings":
        return redirect(url_for(".settings", slug=slug), 303)
    return redirect(url_for("archive.thread", slug=slug, thread_id=thread_id), 303)


# Settings -------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings(slug: str) -> Any:
    with state().readers() as db:
        community = _managed(db, slug).community
        pinned = threads.pinned_threads(db, community)
    form = SettingsForm(obj=community)
    if not form.validate_on_submit():
        page = render_template(
            "manage/settings.html", community=community, form=form, pinned=pinned, section="settings"
        )
        return page, 400 if form.errors else 200
    with writing() as db:
        community = _managed(db, slug).community
        edit_community(
            db,
            community,
            name=form.name.data,
            description=form.description.data or "",
            policy=form.posting_policy.data,
            subject_prefix=form.subject_prefix.data or "",
            language=form.language.data,
            category=form.category.data or "",
            moderate_new=form.moderate_new.data,
        )
        community.visibility = Visibility(form.visibility.data)
    return _back(".settings", slug, _("Settings saved."))


# Chat links -----------------------------------------------------------------------------


@bp.route("/chat", methods=["GET", "POST"])
@login_required
def chat_links(slug: str) -> Any:
    """The Slack channels and Matrix rooms the community lives in too (``listbridge bridge link``)."""
    form = ChatLinkForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _chat_page(slug, form)
    platform, channel = form.platform.data, form.channel.data
    name = chat_platforms.label(platform)
    settings = state().site.settings
    missing = chat.unconfigured(settings, platform)
    if missing:  # said beside the platform: no channel id would help
        form.platform.errors = [*form.platform.errors, sentence(missing)]
        return _chat_page(slug, form)
    try:
        with writing() as db:
            community = _managed(db, slug).community
            existing = chat.link_for_channel(db, platform, channel)
            if existing is not None and existing.community_id == community.id:
                raise InvalidInput(f"{community.name} is already linked to {name} {channel}")
            chat.link(db, community, platform, channel, settings=settings)
    except InvalidInput as exc:
        form.channel.errors = [*form.channel.errors, sentence(exc.said)]
        return _chat_page(slug, form)
    return _back(
        ".chat_links",
        slug,
        _("Linked to %(platform)s %(channel)s: new threads and replies go there too.", platform=name, channel=channel),
    )


@bp.route("/chat/unlink", methods=["POST"])
@login_required
def chat_unlink(slug: str) -> Any:
    platform, channel = request.form.get("platform", ""), request.form.get("channel", "")
    if not platform or not channel:
        raise BadRequest("say which channel to unlink")
    with writing() as db:
        community = _managed(db, slug).community  # refusals (404, 403) are pages, not flashes
        problem: str | None
        try:
            chat.unlink(db, community, platform, channel)
        except (InvalidInput, NotFound) as exc:  # unlinked already (a second click), or no such link
            problem = sentence(exc.said)
        else:
            problem = None
    if problem:
        return _back(".chat_links", slug, problem, "error")
    name = chat_platforms.label(platform)
    return _back(
        ".chat_links",
        slug,
        _("Unlinked from %(platform)s %(channel)s. Messages already there stay.", platform=name, channel=channel),
    )


def _chat_page(slug: str, form: ChatLinkForm) -> tuple[str, int]:
    with state().readers() as db:
        community = _managed(db, slug).community
        rows = []
        for row in chat.links(db, community):
            found = chat.link_for_channel(db, row.platform, row.channel)
            rows.append((row, chat_platforms.label(row.platform), found.created_at if found else None))
        missing = [
            sentence(problem)
            for platform in chat_platforms.names()
            if (problem := chat.unconfigured(state().site.settings, platform))
        ]
        channel_help = " ".join(
            f"{platform.label}: {_(platform.channel_help)}" for platform in chat_platforms.registered()
        )
        page = render_template(
            "manage/chat.html",
            community=community,
            form=form,
            links=rows,
            missing=missing,
            channel_help=channel_help,
            section="chat_links",
        )
    return page, 400 if form.errors else 200


# Requests to join -----------------------------------------------------------------------


@bp.route("/requests")
@login_required
def requests(slug: str) -> Any:
    """Requests to join a restricted community, each with its reason, to approve or decline."""
    with state().readers() as db:
        community = _managed(db, slug).community
        waiting = [
            (asked, DecisionForm(formdata=None, prefix=f"request-{asked.id}"))
            for asked in join_requests.pending(db, community)
        ]
        return render_template("manage/requests.html", community=community, waiting=waiting, section="requests")


@bp.route("/requests/<int:request_id>", methods=["POST"])
@login_required
def decide_request(slug: str, request_id: int) -> Any:
    """Approve or decline a request to join; the person asking is told, with the message."""
    action = request.form.get("action")
    if action not in ("approve", "decline"):
        raise BadRequest("unknown action")
    form = DecisionForm(prefix=f"request-{request_id}")
    if not form.validate():
        return _back(".requests", slug, " ".join(map(str, form.message.errors)), "error")
    try:
        with writing() as db:
            here = _managed(db, slug)
            assert here.user is not None
            asked = join_requests.request_in(db, here.community, request_id)
            join_requests.decide(
                db, state().site, asked, here.user, approve=action == "approve", message=form.message.data or ""
            )
            who = asked.name or asked.email
    except InvalidInput as exc:  # decided already (another facilitator, by mail, a second click)
        return _back(".requests", slug, sentence(exc.message), "error")
    if action == "approve":
        return _back(".requests", slug, _("%(who)s is a member now; they have been told.", who=who))
    return _back(".requests", slug, _("%(who)s's request is declined; they have been told.", who=who))


# Invitations ----------------------------------------------------------------------------


@bp.route("/invitations", methods=["GET", "POST"])
@login_required
def invitations_page(slug: str) -> Any:
    """Invite one address or a CSV of them; see and withdraw the invitations still open."""
    form = InviteForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _invitations_page(slug, form)
    upload = request.files.get(form.csv_file.name)
    try:
        if upload is not None and upload.filename:
            try:
                invitees = invitations.read_csv(upload.read().decode("utf-8-sig"))
            except UnicodeDecodeError:
                raise InvalidInput("the file is not UTF-8 text: save the spreadsheet as CSV UTF-8") from None
        elif form.email.data:
            invitees = [invitations.Invitee(form.email.data)]
        else:
            raise InvalidInput("enter an email address, or choose a CSV file")
        with writing() as db:
            here = _managed(db, slug)
            done = invitations.invite(
                db,
                state().site,
                here.community,
                invitees,
                inviter=here.user,
                days=form.days.data,
                message=form.message.data or "",
            )
    except InvalidInput as exc:
        form.form_errors.append(sentence(exc.message))
        return _invitations_page(slug, form)
    parts = [ngettext("%(num)s invitation sent.", "%(num)s invitations sent.", len(done.sent))]
    if done.already_invited:
        parts.append(_("Already invited, nothing sent: %(emails)s.", emails=", ".join(done.already_invited)))
    if done.already_members:
        parts.append(_("Already members: %(emails)s.", emails=", ".join(done.already_members)))
    return _back(".invitations_page", slug, " ".join(parts))


@bp.route("/invitations/<int:invitation_id>/withdraw", methods=["POST"])
@login_required
def withdraw_invitation(slug: str, invitation_id: int) -> Any:
    try:
        with writing() as db:
            withdrawn = invitations.withdraw(db, _managed(db, slug).community, invitation_id)
            email = withdrawn.email
    except InvalidInput as exc:
        return _back(".invitations_page", slug, sentence(exc.message), "error")
    return _back(".invitations_page", slug, _("The invitation to %(email)s is withdrawn.", email=email))


def _invitations_page(slug: str, form: InviteForm) -> tuple[str, int]:
    with state().readers() as db:
        community = _managed(db, slug).community
        page = render_template(
            "manage/invitations.html",
            community=community,
            form=form,
            pending=invitations.pending(db, community),
            section="invitations_page",
        )
    return page, 400 if form.errors or form.form_errors else 200
