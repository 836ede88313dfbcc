"""Running a community from the web: members, held messages, requests to join, invitations,
settings, chat links.

Each action calls the function the command line calls (``forum.directory``,
``forum.moderation``, ``forum.accounts``, ``forum.join_requests``, ``forum.invitations``,
``forum.chat``), so a web approval publishes and mails a post
exactly as ``listbridge held approve`` does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from forum import accounts, chat, chat_platforms, invitations, join_requests, moderation
from forum.access import can_moderate
from forum.collation import sort_key
from forum.directory import add_member, edit_community, member_row
from forum.errors import InvalidInput, ListbridgeError, NotFound, NotPermitted
from forum.models import (
    Membership,
    MemberStatus,
    Post,
    Role,
    User,
    UserEmail,
    Visibility,
)
from forum.moderation_log import Actor
from web import i18n
from web.accounts.forms import sentence
from web.accounts.lookup import Place, place
from web.accounts.views import refused
from web.auth import login_required
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
from web.state import state, writing

bp = Blueprint("manage", __name__, template_folder="templates", url_prefix="/c/<slug>/manage")
bp.register_error_handler(ListbridgeError, refused)


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
    with state().readers() as db:
        community = _managed(db, slug).community
        by_name = sort_key(i18n.current_language())  # Welsh order on a Welsh page
        rows = sorted(
            db.execute(
                select(Membership, User, UserEmail.email)
                .join(User, User.id == Membership.user_id)
                .join(UserEmail, (UserEmail.user_id == User.id) & UserEmail.is_primary.is_(True))
                .where(Membership.community_id == community.id)
            ),
            key=lambda row: (by_name(row.User.display_name), row.email),
        )
        pending = [(m, u, e) for m, u, e in rows if m.status is MemberStatus.pending]
        current = [
            (m, u, e, RoleForm(formdata=None, prefix=f"member-{u.id}", role=m.role.value))
            for m, u, e in rows
            if m.status is not MemberStatus.pending
        ]
        page = render_template(
            "manage/members.html", community=community, form=form, pending=pending, members=current, section="members"
        )
    return page, 400 if form.errors else 200


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


# Settings -------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings(slug: str) -> Any:
    with state().readers() as db:
        community = _managed(db, slug).community
    form = SettingsForm(obj=community)
    if not form.validate_on_submit():
        page = render_template("manage/settings.html", community=community, form=form, section="settings")
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
