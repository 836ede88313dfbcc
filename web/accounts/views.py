"""Accounts and taking part: sign in by emailed link, profile, joining, posting, unsubscribing.

Every change goes through the core (``forum.accounts``, ``forum.posting.submit_post``), so a
web post or a web unsubscribe does exactly what its email twin does. Pages that a link in
a mail opens (sign-in, address confirmation, unsubscribe, turning bounced mail back on,
confirming a join or leave asked for by email) change nothing on GET: mail scanners and
link previews fetch them before the person does. Each asks for a button press, which POSTs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from forum import accounts, bounces, confirmations, mail_links, subscriptions
from forum.access import membership_of, user_by_email
from forum.collation import sort_key
from forum.errors import InvalidInput, ListbridgeError, NotFound, RateLimited
from forum.models import (
    Community,
    Delivery,
    Membership,
    MemberStatus,
    PendingEmail,
    Post,
    PostStatus,
    Thread,
    User,
)
from forum.moderation import notify_held
from forum.posting import Draft, Outcome, submit_post
from forum.quoting import QuotedParent, quote_text
from forum.subjects import strip_prefixes
from web import i18n
from web.accounts import uploads
from web.accounts.forms import (
    AddEmailForm,
    MembershipForm,
    NewThreadForm,
    PostForm,
    ProfileForm,
    ReplyForm,
    SignInForm,
    aria,
    sentence,
)
from web.accounts.lookup import Place, place, safe_next, signed_in
from web.accounts.taking_part import DELIVERY_LABELS, joined_message, standing
from web.accounts.taking_part import main_address as _main_address
from web.archive.rendering import post_html
from web.auth import login_required, sign_in_as, sign_out
from web.i18n import lazy_gettext as _l
from web.query import query_id
from web.state import state, writing

bp = Blueprint("accounts", __name__, template_folder="templates")
bp.add_app_template_global(standing)
bp.add_app_template_global(aria)


@bp.app_template_global()
def new_reply_form(parent_id: int) -> ReplyForm:
    """An empty reply form answering ``parent_id``, for the thread page's include."""
    return ReplyForm(formdata=None, parent_id=str(parent_id))


@dataclass(frozen=True)
class UploadLimits:
    files: int  # how many a post may attach (0: the file input is not offered)
    hint: str  # the limits in a sentence, under the file input


@bp.app_template_global()
def upload_limits() -> UploadLimits:
    """The site's limits on a web post's files, for the posting forms."""
    web = state().site.settings.web
    hint = ngettext(
        "You can attach %(num)d file of up to %(size)s. Programs and scripts (such as .exe or .js files) cannot be attached.",
        "You can attach up to %(num)d files, each up to %(size)s. Programs and scripts (such as .exe or .js files) cannot be attached.",
        web.upload_max_files,
        size=i18n.file_size(web.upload_max_file_bytes),
    )
    return UploadLimits(web.upload_max_files, hint)


@bp.record_once
def _exempt_one_click(setup: BlueprintSetupState) -> None:
    """RFC 8058: a mail provider POSTs the unsubscribe with no cookie, so no CSRF token.

    The HMAC token in the URL is what authorises it. Exempted here, at registration, because
    the CSRF extension (``web.app.csrf``) is set up before the blueprints are registered.
    """
    setup.app.extensions["csrf"].exempt(unsubscribe_one_click)


@bp.app_errorhandler(CSRFError)
def _stale_form(error: CSRFError) -> tuple[str, int]:
    """A form sent without its CSRF token, or after the session ended: refused, said plainly."""
    return message_page(
        _("Please try again"),
        _(
            "The form could not be accepted because it had expired or came from another site; go "
            "back, reload the page and send it again."
        ),
        400,
    )


REFUSAL_TITLES = {403: _l("You cannot do that"), 404: _l("Page not found"), 429: _l("Please wait a while")}


@bp.errorhandler(ListbridgeError)
def refused(error: ListbridgeError) -> tuple[str, int]:
    """A core refusal that no form is waiting for: a page that says it, with its status."""
    title = REFUSAL_TITLES.get(error.http_status, _l("Sorry, that did not work"))
    return message_page(title, sentence(error.said), error.http_status)


def message_page(title: str, text: str, status: int = 200, links: Sequence[tuple[str, str]] = ()) -> tuple[str, int]:
    """A page that only says something (with links onwards): done, refused, not found."""
    return render_template("accounts/message.html", title=title, text=text, links=links), status


def _writing() -> AbstractContextManager[Session]:
    """A session in a transaction that commits when the block ends well, else rolls back."""
    return writing()


# Signing in -----------------------------------------------------------------------------


@bp.route("/signin", methods=["GET", "POST"])
def sign_in() -> Any:
    form = SignInForm(next=safe_next(request.args.get("next"), ""))
    if not form.validate_on_submit():
        return _form_page("accounts/sign_in.html", form)
    try:
        with _writing() as db:
            accounts.request_sign_in(
                db,
                state().site,
                form.email.data,
                request.remote_addr or "unknown",
                safe_next(form.next.data, ""),
                i18n.current_language(),
            )
    except RateLimited:
        form.form_errors.append(
            _(
                "Too many sign-in links have been asked for, for this address or from your "
                "network, in the last hour. Please try again later."
            )
        )
        return render_template("accounts/sign_in.html", form=form), 429, {"Retry-After": "3600"}
    return render_template(
        "accounts/check_email.html", email=form.email.data, minutes=int(accounts.SIGN_IN_TTL.total_seconds() // 60)
    )


@bp.route("/signin/<token>", methods=["GET", "POST"])
def sign_in_link(token: str) -> Any:
    next_path = safe_next(request.args.get("next"), url_for("archive.home"))
    if request.method == "GET":
        with state().readers() as db:
            user = accounts.sign_in_link_user(db, state().site, token)
        return render_template(
            "accounts/sign_in_confirm.html", user=user, action=url_for(".sign_in_link", token=token, next=next_path)
        )
    with _writing() as db:
        user = accounts.use_sign_in_link(db, state().site, token)
        stopped = [m.community.name for m in bounces.stopped_deliveries(db, user)]
        sign_in_as(db, user.id)
    flash(
        _("You are signed in as %(name)s.", name=user.display_name) if user.display_name else _("You are signed in."),
        "success",
    )
    if stopped:  # said once per session: the account page keeps saying it, with the buttons
        flash(
            _(
                "We stopped sending you mail from %(names)s because it kept bouncing. "
                "You can start it again from your account page.",
                names=i18n.listed(stopped),
            ),
            "error",
        )
    return redirect(next_path, 303)


@bp.route("/signout", methods=["POST"], endpoint="sign_out")
def sign_out_view() -> Any:
    sign_out()
    flash(_("You have signed out."), "success")
    return redirect(url_for("archive.home"), 303)


@bp.route("/account/signout-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere() -> Any:
    """End every session of this person: a browser left signed in elsewhere, a copied cookie."""
    sign_out(everywhere=True)
    flash(_("You have signed out on every browser and device."), "success")
    return redirect(url_for("archive.home"), 303)


# Profile --------------------------------------------------------------------------------


@bp.route("/account", methods=["GET", "POST"])
@login_required
def profile() -> Any:
    if request.method == "GET":
        return _profile_page()
    form = ProfileForm()
    if not form.validate_on_submit():
        return _profile_page(profile_form=form)
    with _writing() as db:
        user = _me(db)
        user.display_name = form.display_name.data.strip()
        user.timezone = (form.timezone.data or "").strip() or None  # a form without the field: none
        user.digest_hour = form.digest_hour.data
        user.language = form.language.data or None
        user.plain_text = form.mail_format.data == "plain"
    response = redirect(url_for(".profile"), 303)
    i18n.choose(response, form.language.data or None)  # the pages follow it at once, over a choice before
    flash(_("Your profile is saved."), "success")
    return response


@bp.route("/account/emails", methods=["POST"])
@login_required
def add_email() -> Any:
    form = AddEmailForm()
    if not form.validate_on_submit():
        return _profile_page(email_form=form)
    try:
        with _writing() as db:
            pending = accounts.claim_email(db, state().site, _me(db), form.email.data)
    except (InvalidInput, RateLimited) as exc:
        form.email.errors.append(sentence(exc.said))
        return _profile_page(email_form=form, status=exc.http_status)
    flash(
        _("We have sent a link to %(email)s: follow it to add the address to your account.", email=pending.email),
        "success",
    )
    return redirect(url_for(".profile"), 303)


@bp.route("/account/emails/<int:email_id>/primary", methods=["POST"])
@login_required
def make_primary(email_id: int) -> Any:
    with _writing() as db:
        chosen = accounts.make_primary(db, _me(db), email_id)
    flash(_("Mail will go to %(email)s from now on.", email=chosen.email), "success")
    return redirect(url_for(".profile"), 303)


@bp.route("/account/emails/<int:email_id>/remove", methods=["POST"])
@login_required
def remove_email(email_id: int) -> Any:
    try:
        with _writing() as db:
            removed = accounts.remove_email(db, _me(db), email_id)
    except InvalidInput as exc:
        flash(sentence(exc.said), "error")
        return redirect(url_for(".profile"), 303)
    flash(_("%(email)s is no longer on your account.", email=removed), "success")
    return redirect(url_for(".profile"), 303)


@bp.route("/account/emails/verify/<token>", methods=["GET", "POST"])
def verify_email(token: str) -> Any:
    if request.method == "GET":
        with state().readers() as db:
            pending = accounts.pending_email(db, state().site, token)
            owner = db.get(User, pending.user_id)
        return render_template("accounts/verify_email.html", email=pending.email, owner=owner)
    with _writing() as db:
        added = accounts.verify_email(db, state().site, token)
    return message_page(
        _("Address added"),
        _("%(email)s is now on your account: you can post from it and sign in with it.", email=added.email),
        links=[(url_for(".profile"), _("Your account"))],
    )


def _me(db: Session) -> User:
    """The signed-in person, attached to ``db`` (the view changes them or reads their addresses)."""
    user = signed_in(db)
    if user is None:  # login_required let the request in, so the account was deleted meanwhile
        raise NotFound("your account no longer exists")
    return user


def _profile_form(user: User) -> ProfileForm:
    form = ProfileForm(formdata=None, obj=user)
    form.language.data = user.language or ""  # no language chosen: the empty choice, "as my browser asks"
    form.mail_format.data = "plain" if user.plain_text else "both"
    return form


def _profile_page(
    *, profile_form: ProfileForm | None = None, email_form: AddEmailForm | None = None, status: int | None = None
) -> tuple[str, int]:
    with state().readers() as db:
        user = _me(db)
        pending = list(
            db.scalars(select(PendingEmail.email).where(PendingEmail.user_id == user.id).order_by(PendingEmail.email))
        )
        by_name = sort_key(i18n.current_language())  # Welsh order on a Welsh page
        memberships = sorted(
            db.execute(
                select(Membership, Community)
                .join(Community, Community.id == Membership.community_id)
                .where(Membership.user_id == user.id)
            ),
            key=lambda row: by_name(row.Community.name),
        )
        page = render_template(
            "accounts/profile.html",
            user=user,
            emails=list(user.emails),
            pending=pending,
            main_address=_main_address(user),
            stopped=bounces.stopped_deliveries(db, user),
            memberships=[
                (m, c, MembershipForm(formdata=None, prefix=c.slug, delivery=m.delivery.value)) for m, c in memberships
            ],
            profile_form=profile_form or _profile_form(user),
            email_form=email_form or AddEmailForm(formdata=None),
        )
    failed = (profile_form and profile_form.errors) or (email_form and email_form.errors)
    return page, status or (400 if failed else 200)


# Membership -----------------------------------------------------------------------------


@bp.route(f"/c/<slug>/{mail_links.WELSH_MEMBERSHIP}", methods=["GET", "POST"])  # mail in Welsh links it
@bp.route("/c/<slug>/membership", methods=["GET", "POST"])
@login_required
def membership(slug: str) -> Any:
    """Join, change delivery, show or hide one's address, turn mail stopped by bounces back
    on, or leave: the page every mail footer links to (and the profile's forms post to)."""
    action = request.form.get("action", "") if request.method == "POST" else ""
    if action not in ("", "join", "leave", "delivery", "reenable", "address"):
        raise BadRequest("unknown action")
    form = MembershipForm(prefix=slug.lower())
    if action == "delivery" and not form.validate_on_submit():
        return _membership_page(slug, form, 400)
    if not action:
        return _membership_page(slug)
    try:
        with _writing() as db:
            here = place(db, slug, members_too=True)
            assert here.user is not None
            message = _change_membership(db, here, action, form)
            community = here.community
    except InvalidInput as exc:  # the last facilitator leaving: told what to do instead
        flash(sentence(exc.said), "error")
        return redirect(url_for(".membership", slug=slug), 303)
    flash(message, "success")
    fallback = url_for(".membership", slug=community.slug) if action != "leave" else url_for("archive.home")
    return redirect(safe_next(request.form.get("next"), fallback), 303)


def _change_membership(db: Session, here: Place, action: str, form: MembershipForm) -> str:
    community, user = here.community, here.user
    assert user is not None
    name = community.name
    if action == "join":
        joined = accounts.join(db, state().site, user, community)
        if joined.status is MemberStatus.pending:
            return _("You have asked to join %(name)s. A facilitator will approve your request.", name=name)
        return _("You are a member of %(name)s.", name=name)
    if action == "leave":
        accounts.leave(db, user, community)
        return _("You have left %(name)s.", name=name)
    if action in ("reenable", "address"):
        membership = here.membership
        if membership is None:
            raise NotFound(f"you are not a member of {community.name}")
        if action == "reenable":
            bounces.reenable(db, membership)
            return _("%(name)s will send you mail again.", name=name)
        membership.show_address = request.form.get("show") == "yes"
        if membership.show_address:
            return _("Other members of %(name)s now see your email address.", name=name)
        return _("Your email address is hidden from the other members of %(name)s.", name=name)
    accounts.change_delivery(db, user, community, Delivery(form.delivery.data))
    return _("Your delivery for %(name)s is saved.", name=name)


def _membership_page(slug: str, form: MembershipForm | None = None, status: int = 200) -> tuple[str, int]:
    with state().readers() as db:
        here = place(db, slug, members_too=True)
        form = form or MembershipForm(
            formdata=None,
            prefix=here.community.slug,
            delivery=here.membership.delivery.value if here.membership else Delivery.each.value,
        )
        return render_template(
            "accounts/membership.html", community=here.community, membership=here.membership, form=form
        ), status


# Posting --------------------------------------------------------------------------------


@bp.route("/c/<slug>/new", methods=["GET", "POST"])
@login_required
def new_thread(slug: str) -> Any:
    form = NewThreadForm()
    with state().readers() as db:
        community = place(db, slug).community
    if request.method == "GET":
        return _form_page("accounts/new_thread.html", form, community=community)
    return _submitted(
        form,
        "accounts/new_thread.html",
        {"community": community},
        community=community.slug,
        subject=(form.subject.data or "").strip(),
    )


@bp.route("/c/<slug>/t/<int:thread_id>/reply", methods=["GET", "POST"])
@login_required
def reply(slug: str, thread_id: int) -> Any:
    """A reply from the web to the post named by ``parent`` (by default the thread's last):
    threaded under it here and in mail, whose copy quotes it (``forum.quoting``)."""
    form = ReplyForm()
    with state().readers() as db:
        community = place(db, slug).community
        thread = db.get(Thread, thread_id)
        if thread is None or thread.community_id != community.id:
            raise NotFound("there is no such thread here")
        parent = _parent(db, thread, form.parent_id.data or request.args.get("parent"))
    form.parent_id.data = str(parent.id)
    context: dict[str, Any] = {"community": community, "thread": thread, "parent": parent}
    if request.method == "GET":
        return _form_page("accounts/reply.html", form, **context)
    return _submitted(
        form,
        "accounts/reply.html",
        context,
        community=community.slug,
        subject="Re: " + strip_prefixes(thread.subject),
        parent_id=parent.id,
    )


def _submitted(form: PostForm, template: str, context: dict[str, Any], **fields: Any) -> Any:
    """A posting form sent: shown back with its files kept after a mistake or to preview it
    (as members will see it: the page's HTML and the plain text of the mail), else posted."""
    valid = form.validate_on_submit()
    author, draft = _draft(form, **fields)
    attached = uploads.gathered(state().site, author, form.files.data or [])
    form.files.errors = [*form.files.errors, *attached.errors]
    context = {**context, "attached": attached.files}
    if not valid or attached.errors:
        return _form_page(template, form, **context)
    if form.previewing:
        body = post_html(draft.stored_html, {}, remote_images=False)
        text = draft.stored_body
        if "parent" in context:  # as the mail copy quotes it, in the reader's language
            quoted = quote_text(QuotedParent.of(context["parent"]), i18n.current_language())
            text = f"{quoted}\n\n{text}"
        return _form_page(template, form, preview=body.html, preview_text=text, **context)
    files = attached.attachments(state().site)
    if files is None:  # a kept file is gone from storage: the form says which
        form.files.errors = attached.errors
        return _form_page(template, form, **context)
    outcome = _post(form, replace(draft, attachments=files))
    if isinstance(outcome, ListbridgeError):
        return _form_page(template, form, outcome.http_status, **context)
    slug = draft.community
    if outcome.held:  # its thread shows nothing until a moderator approves it
        if draft.parent_id is None:
            return redirect(url_for("archive.community", slug=slug), 303)
        return redirect(url_for("archive.thread", slug=slug, thread_id=outcome.post.thread_id), 303)
    return redirect(_permalink(slug, outcome.post), 303)


def _draft(form: PostForm, **fields: Any) -> tuple[int, Draft]:
    """The signed-in person's id and their post as they wrote it, before its files are read."""
    with state().readers() as db:
        user = _me(db)
        return user.id, Draft(
            author_email=_main_address(user),
            author_name=user.display_name,
            source="web",
            body_format="markdown",
            body=form.body.data or "",
            **fields,
        )


def _parent(db: Session, thread: Thread, wanted: str | None) -> Post:
    """The published post of ``thread`` named by ``wanted``, or its latest when none is named."""
    published = select(Post).where(Post.thread_id == thread.id, Post.status == PostStatus.published)
    if not wanted:
        latest = db.scalar(published.order_by(Post.created_at.desc(), Post.id.desc()).limit(1))
        if latest is None:
            raise NotFound("this thread has no messages to reply to yet")
        return latest
    wanted_id = query_id(wanted)
    named = db.scalar(published.where(Post.id == wanted_id)) if wanted_id is not None else None
    if named is None:
        raise BadRequest("the message you are replying to is not in this thread")
    return named


def _post(form: PostForm, draft: Draft) -> Outcome | ListbridgeError:
    """Submit a web post as the signed-in person, or say (on the form) why it was refused.

    The draft goes through ``submit_post`` like a mailed one: the same rules and fan-out, a
    generated Message-ID, and In-Reply-To/References from its parent when it is mailed out;
    its files are stored as a mailed post's attachments are, so they travel the same way.
    A held post tells the facilitators, as a held mail does.
    """
    try:
        with _writing() as db:
            outcome = submit_post(db, draft, state().site)
            if outcome.held:
                notify_held(db, state().site, outcome.post)
    except ListbridgeError as exc:
        form.form_errors.append(sentence(exc.said))
        return exc
    if outcome.held:
        flash(_("Your message is waiting for a moderator: it will appear once it is approved."), "info")
    else:
        flash(_("Your message is posted."), "success")
    return outcome


def _permalink(slug: str, post: Post) -> str:
    return url_for("archive.thread", slug=slug, thread_id=post.thread_id, _anchor=f"post-{post.id}")


def _form_page(template: str, form: Any, status: int | None = None, **context: Any) -> tuple[str, int]:
    """A form page: 200 when fresh, 400 after failed validation, or a refusal's own status."""
    return render_template(template, form=form, **context), status or (400 if form.errors else 200)


# Unsubscribe ----------------------------------------------------------------------------


@bp.route(f"{mail_links.WELSH_UNSUBSCRIBE}<token>", methods=["GET"])  # mail in Welsh links it
@bp.route("/unsubscribe/<token>", methods=["GET"])
def unsubscribe(token: str) -> Any:
    """The page a person sees when they follow the unsubscribe link: a button, and a gentler way."""
    with state().readers() as db:
        user, community = accounts.unsubscribe_target(db, state().site, token)
        membership = membership_of(db, user, community)
        problem = accounts.last_facilitator_problem(db, membership, leaving=True)
    return render_template(
        "accounts/unsubscribe.html",
        community=community,
        member=membership is not None,
        token=token,
        problem=problem and sentence(problem),
    )


@bp.route("/unsubscribe/<token>", methods=["POST"])
def unsubscribe_one_click(token: str) -> Any:
    """RFC 8058 One-Click: ``List-Unsubscribe=One-Click`` in the body, no cookie, no CSRF token.

    Leaves the community (see ``forum.accounts.unsubscribe``); doing it twice is fine. The
    answer is small and sets no cookie; the human page's button posts here too.
    """
    if request.form.get("List-Unsubscribe") != "One-Click":
        raise BadRequest("an unsubscribe request must say List-Unsubscribe=One-Click")
    try:
        with _writing() as db:
            community = accounts.unsubscribe(db, state().site, token)
    except InvalidInput as exc:  # the last facilitator: told what to do instead
        with state().readers() as db:
            _, community = accounts.unsubscribe_target(db, state().site, token)
            return render_template(
                "accounts/unsubscribe.html",
                community=community,
                member=True,
                token=token,
                problem=sentence(exc.said),
            ), 409
    return render_template("accounts/unsubscribed.html", community=community)


# Bounced mail and confirmations by link -------------------------------------------------


@bp.route(f"{bounces.REENABLE_PATH}<token>", methods=["GET", "POST"])
def bounce_reenable(token: str) -> Any:
    """The link facilitators are mailed when bounces stop a member's mail (``forum.bounces``).

    The token names a membership and does not expire, and re-enabling twice is harmless,
    so the page says when there is nothing left to do rather than refusing the link.
    """
    if request.method == "GET":
        with state().readers() as db:
            membership = bounces.membership_for_link(db, state().site, token)
            return render_template(
                "accounts/bounce_reenable.html",
                membership=membership,
                community=membership.community,
                address=_main_address(membership.user),
            )
    with _writing() as db:
        membership = bounces.reenable(db, bounces.membership_for_link(db, state().site, token))
        community, address = membership.community.name, _main_address(membership.user)
    return message_page(
        _("Mail is on again"),
        _(
            "%(name)s is sending mail to %(address)s again, as it did before the bounces stopped it.",
            name=community,
            address=address,
        ),
    )


@bp.route(f"{subscriptions.CONFIRM_PATH}<token>", methods=["GET", "POST"])
def confirm_request(token: str) -> Any:
    """The link in the mail that confirms a join or leave asked for by email or on a
    community's page (double opt-in).

    Confirming a join proves the address is the visitor's, as a sign-in link does, so it
    signs them in (making their account first if they had none: they may give a name) and
    opens the community's page. It uses the request up, so a second press finds nothing
    and says so (404).
    """
    if request.method == "GET":
        with state().readers() as db:
            asked = subscriptions.pending_request(db, state().site, token)
            return render_template(
                "accounts/confirm_request.html",
                asked=asked,
                community=db.get(Community, asked.community_id),
                verb="join" if asked.action == subscriptions.SUBSCRIBE else "leave",
                newcomer=user_by_email(db, asked.email) is None,
                delivery=DELIVERY_LABELS[asked.delivery.value] if asked.delivery else "",
                days=subscriptions.CONFIRM_TTL.days,
            )
    with _writing() as db:
        done = subscriptions.confirm(db, state().site, token, request.form.get("name", ""))
        community = done.community
        if done.membership is not None:
            sign_in_as(db, done.membership.user_id)
            if done.membership.status is MemberStatus.active:
                flash(joined_message(community, done.membership.user, done.membership.status), "success")
                return redirect(url_for("archive.community", slug=community.slug), 303)
    if done.refusal:
        return message_page(_("You are still a member of %(name)s", name=community.name), sentence(done.refusal), 409)
    if done.action == subscriptions.UNSUBSCRIBE:
        return render_template("accounts/unsubscribed.html", community=community)
    # A join asked for a restricted community: the request is now with its facilitators.
    return message_page(
        _("Request sent"),
        _(
            "%(email)s has asked to join %(name)s, and its facilitators will decide on the request.",
            name=community.name,
            email=done.email,
        ),
    )


@bp.route(f"{confirmations.CONFIRM_POST_PATH}<token>", methods=["GET", "POST"])
def confirm_post(token: str) -> Any:
    """The link a member is mailed when a post names them as author but could not be shown
    to come from them (``forum.confirmations``): "yes, I sent this" publishes it."""
    if request.method == "GET":
        with state().readers() as db:
            post = confirmations.post_to_confirm(db, state().site, token)
            return render_template(
                "accounts/confirm_post.html",
                post=post,
                community=db.get(Community, post.community_id),
                days=confirmations.CONFIRM_POST_TTL.days,
            )
    with _writing() as db:
        post, copies = confirmations.confirm(db, state().site, token)
        slug, name, thread_id = post.community.slug, post.community.name, post.thread_id
    if copies is None:
        return message_page(
            _("Thank you"), _("Your message to %(name)s now waits only for a facilitator to approve it.", name=name)
        )
    return message_page(
        _("Published"),
        _("Your message is in %(name)s now, and its members are getting it.", name=name),
        links=[(url_for("archive.thread", slug=slug, thread_id=thread_id), _("See it in its thread"))],
    )


LINK_HELP = {  # a link from a mail that does not work: where to go instead
    "accounts.confirm_post": ("archive.home", _l("Communities on this site")),
    "accounts.sign_in_link": ("accounts.sign_in", _l("Ask for a new sign-in link")),
    "accounts.bounce_reenable": ("accounts.profile", _l("Your account: members turn their own mail back on there")),
    "accounts.confirm_request": ("archive.home", _l("Communities on this site")),
}


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> tuple[str, int]:
    """A link from a mail that does not work says what to do instead."""
    if request.endpoint in ("accounts.unsubscribe", "accounts.unsubscribe_one_click"):
        return render_template("accounts/unsubscribe_invalid.html", reason=sentence(error.said)), 404
    if request.endpoint in LINK_HELP:
        endpoint, label = LINK_HELP[request.endpoint]
        return message_page(_("This link does not work"), sentence(error.said), 404, links=[(url_for(endpoint), label)])
    return refused(error)
