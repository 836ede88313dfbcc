"""The forms people fill in to sign in, keep their profile and take part.

Validation messages say what to do ("Enter …"), as the GOV.UK pattern asks; the rules
themselves (what an address or a time zone is) live in the core, so email commands apply
the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import NumberInput

from forum.accounts import check_timezone
from forum.directory import normalize_email
from forum.errors import InvalidInput
from forum.models import Delivery

DELIVERY_CHOICES = [
    SelectChoice(Delivery.each.value, "Every message, as it is posted"),
    SelectChoice(Delivery.daily.value, "One email a day, with everything new"),
    SelectChoice(Delivery.weekly.value, "One email a week, with everything new"),
    SelectChoice(Delivery.none.value, "No email: I will read on the web"),
]
MAX_BODY = 100_000


def choice_value(value: object) -> str:
    """A choice's value, from a form or from a model's enum: ``str(Role.member)`` is "Role.member"."""
    return value.value if isinstance(value, Enum) else str(value)


def sentence(message: str) -> str:
    """A core message (lower case, no full stop: it also ends SMTP replies) as a sentence on a page."""
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "!", "?")) else ".")


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
                raise ValidationError(sentence(exc.message)) from None

    return validate


def email_field(label: str = "Email address") -> EmailField:
    return EmailField(label, [DataRequired("Enter an email address"), core_rule(normalize_email)],
                      render_kw={"autocomplete": "email", "spellcheck": "false"})


class SignInForm(WebForm):
    email = email_field()
    next = HiddenField()


class ProfileForm(WebForm):
    display_name = StringField("Your name", [DataRequired("Enter your name"), Length(max=200)],
                               render_kw={"autocomplete": "name"})
    timezone = StringField("Time zone", [Optional(), Length(max=64), core_rule(check_timezone)],
                           render_kw={"spellcheck": "false"})
    digest_hour = IntegerField(
        "Hour for digests", [Optional(), NumberRange(0, 23, "Enter an hour from 0 to 23")],
        widget=NumberInput(min=0, max=23), render_kw={"inputmode": "numeric"},
    )


class AddEmailForm(WebForm):
    email = email_field("Another email address")


class MembershipForm(WebForm):
    """Used with the community's slug as prefix: the profile lists one per community."""

    delivery = SelectField("Email from this community", choices=DELIVERY_CHOICES, default=Delivery.each.value,
                           coerce=choice_value)


class NewThreadForm(WebForm):
    subject = StringField("Subject", [DataRequired("Enter a subject"), Length(max=200)])
    body = TextAreaField("Message", [DataRequired("Write your message"), Length(max=MAX_BODY)])


class ReplyForm(WebForm):
    body = TextAreaField("Your reply", [DataRequired("Write your reply"), Length(max=MAX_BODY)])
    parent_id = HiddenField()


def aria(field: Field, hint: str = "") -> dict[str, str]:
    """ARIA attributes tying a control to its hint and error, so a screen reader reads them with it."""
    ids = [f"{field.id}-hint"] * bool(hint) + [f"{field.id}-error"] * bool(field.errors)
    attributes = {"aria-describedby": " ".join(ids)} if ids else {}
    if field.errors:
        attributes["aria-invalid"] = "true"
    return attributes
