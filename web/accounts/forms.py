"""The forms people fill in to sign in, keep their profile and take part.

Validation messages say what to do ("Enter …"), as the GOV.UK pattern asks; the rules
themselves (what an address or a time zone is) live in the core, so email commands apply
the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import EmailField, Field, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import NumberInput

from forum.accounts import check_timezone
from forum.directory import normalize_email
from forum.errors import InvalidInput
from forum.models import Delivery
from forum.translatable import Message
from web.i18n import LazyText, core, english
from web.i18n import lazy_gettext as _l

DELIVERY_CHOICES = [
    SelectChoice(Delivery.each.value, _l("Every message, as it is posted")),
    SelectChoice(Delivery.daily.value, _l("One email a day, with everything new")),
    SelectChoice(Delivery.weekly.value, _l("One email a week, with everything new")),
    SelectChoice(Delivery.none.value, _l("No email: I will read on the web")),
]
# A member's own language, each named in itself (and marked so); empty: follow the browser.
LANGUAGE_CHOICES = [
    SelectChoice("", _l("As my browser asks")),
    SelectChoice("cy", "Cymraeg", render_kw={"lang": "cy"}),
    SelectChoice("en", "English", render_kw={"lang": "en-GB"}),
]
MAX_BODY = 100_000


def choice_value(value: object) -> str:
    """A choice's value, from a form or from a model's enum: ``str(Role.member)`` is "Role.member"."""
    return value.value if isinstance(value, Enum) else str(value)


def sentence(message: str | Message) -> str:
    """A core message (lower case, no full stop: it also ends SMTP replies) as a sentence on a
    page: in the page's language when the core's catalogue has it (see ``web.i18n.core``),
    else marked as English on a page in another language (see ``web.i18n.english``)."""
    said = message if isinstance(message, Message) else Message(message)
    text, translated = core(said)
    text = text.strip()
    text = text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
    return text if translated else english(text)


class WebForm(FlaskForm):
    """A form of this site. The app checks the CSRF token of every POST (``web.app``), and the
    templates render it without an id, so forms repeated on one page stay valid HTML."""

    class Meta:
        csrf = False


def core_rule(check: Callable[[str], object]) -> Callable[[WebForm, Field], None]:
    """A WTForms validator from a core check that raises InvalidInput with a human message."""

    def validate(form: WebForm, field: Field) -> None:
        if field.data:
            try:
                check(field.data)
            except InvalidInput as exc:
                raise ValidationError(sentence(exc.said)) from None

    return validate


def email_field(label: LazyText | None = None) -> EmailField:
    return EmailField(
        label or _l("Email address"),
        [DataRequired(_l("Enter an email address")), core_rule(normalize_email)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


class SignInForm(WebForm):
    email = email_field()
    next = HiddenField()


# How mail comes: "plain" is a single text/plain part (User.plain_text).
MAIL_FORMAT_CHOICES = [
    SelectChoice("both", _l("Formatted, with a plain text version")),
    SelectChoice("plain", _l("Plain text only")),
]


class ProfileForm(WebForm):
    display_name = StringField(
        _l("Your name"), [DataRequired(_l("Enter your name")), Length(max=200)], render_kw={"autocomplete": "name"}
    )
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="")
    mail_format = SelectField(_l("Email format"), choices=MAIL_FORMAT_CHOICES, default="both")
    timezone = StringField(
        _l("Time zone"), [Optional(), Length(max=64), core_rule(check_timezone)], render_kw={"spellcheck": "false"}
    )
    digest_hour = IntegerField(
        _l("Hour for digests"),
        [Optional(), NumberRange(0, 23, _l("Enter an hour from 0 to 23"))],
        widget=NumberInput(min=0, max=23),
        render_kw={"inputmode": "numeric"},
    )


class AddEmailForm(WebForm):
    email = email_field(_l("Another email address"))


class MembershipForm(WebForm):
    """Used with the community's slug as prefix: the profile lists one per community."""

    delivery = SelectField(
        _l("Email from this community"), choices=DELIVERY_CHOICES, default=Delivery.each.value, coerce=choice_value
    )


class JoinForm(WebForm):
    """Joining from a community's page: an address (none when signed in) and how much mail.

    A form without the delivery field (an old page, a script) joins for every message."""

    email = email_field()
    delivery = RadioField(
        _l("How much email do you want?"), choices=DELIVERY_CHOICES, default=Delivery.each.value, coerce=choice_value
    )


class JoinRequestForm(WebForm):
    """Asking to join a restricted community; ``email`` and ``name`` only for a visitor not signed in."""

    email = EmailField(
        _l("Your email address"),
        [Optional(), core_rule(normalize_email)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
    name = StringField(_l("Your name"), [Optional(), Length(max=200)], render_kw={"autocomplete": "name"})
    reason = TextAreaField(
        _l("Why you would like to join"),
        [DataRequired(_l("Say why you would like to join")), Length(max=2000)],
        render_kw={"rows": 4},
    )
    delivery = SelectField(
        _l("Email from this community"), choices=DELIVERY_CHOICES, default=Delivery.each.value, coerce=choice_value
    )


def files_field() -> MultipleFileField:
    """The file input of a posting form (its files are checked in ``web.accounts.uploads``)."""
    return MultipleFileField(_l("Attach files"), render_kw={"multiple": True})


class PostForm(WebForm):
    """A post from the web: its text, files (``files``, declared after the text so the error
    summary lists them in page order) and which button was pressed ("preview" shows it as
    members will see it; anything else posts)."""

    body: TextAreaField
    files: MultipleFileField

    @property
    def previewing(self) -> bool:
        return request.form.get("action") == "preview"


class NewThreadForm(PostForm):
    subject = StringField(_l("Subject"), [DataRequired(_l("Enter a subject")), Length(max=200)])
    body = TextAreaField(_l("Message"), [DataRequired(_l("Write your message")), Length(max=MAX_BODY)])
    files = files_field()


class ReplyForm(PostForm):
    body = TextAreaField(_l("Your reply"), [DataRequired(_l("Write your reply")), Length(max=MAX_BODY)])
    files = files_field()
    parent_id = HiddenField()


def aria(field: Field, hint: str = "") -> dict[str, str]:
    """ARIA attributes tying a control to its hint and error, so a screen reader reads them with it."""
    ids = [f"{field.id}-hint"] * bool(hint) + [f"{field.id}-error"] * bool(field.errors)
    attributes = {"aria-describedby": " ".join(ids)} if ids else {}
    if field.errors:
        attributes["aria-invalid"] = "true"
    return attributes
