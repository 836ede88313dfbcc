"""The forms facilitators use; choices come from the core's enums and registry, so they cannot drift."""

from __future__ import annotations

from wtforms import EmailField, Field, FileField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import NumberInput

from forum import chat_platforms
from forum.catalogue import CATEGORY_LENGTH
from forum.chat import channel_problem
from forum.directory import MAX_MODERATE_NEW, normalize_email
from forum.invitations import DEFAULT_DAYS, MAX_DAYS
from forum.languages import BILINGUAL
from forum.models import PostingPolicy, Role, Visibility
from web.accounts.forms import DELIVERY_CHOICES, WebForm, choice_value, core_rule, email_field, sentence
from web.i18n import lazy_gettext as _l

ROLE_CHOICES = [
    SelectChoice(Role.member.value, _l("Member")),
    SelectChoice(Role.moderator.value, _l("Moderator: approves held messages")),
    SelectChoice(Role.facilitator.value, _l("Facilitator: runs the community")),
]
VISIBILITY_CHOICES = [
    SelectChoice(Visibility.public.value, _l("Public: anyone can read it and join")),
    SelectChoice(
        Visibility.restricted.value,
        _l("Restricted: listed with its name and purpose; only members can read it; people ask to join"),
    ),
    SelectChoice(
        Visibility.private.value, _l("Private: hidden from everyone but its members; joined by invitation only")
    ),
]
POLICY_CHOICES = [
    SelectChoice(PostingPolicy.members.value, _l("Members can post; others are refused")),
    SelectChoice(
        PostingPolicy.moderated.value,
        _l("Every message waits for a moderator (facilitators' and moderators' own do not)"),
    ),
    SelectChoice(PostingPolicy.open.value, _l("Anyone can post, members or not")),
    SelectChoice(
        PostingPolicy.announce.value,
        _l("Announcements: only facilitators and moderators post; members are told to write to the facilitators"),
    ),
]
COMMUNITY_LANGUAGE_CHOICES = [
    SelectChoice("cy", _l("Welsh")),
    SelectChoice("en", _l("English")),
    SelectChoice(BILINGUAL, _l("Bilingual: Welsh and English")),
]


def platform_choices() -> list[SelectChoice]:
    """The chat platforms the site knows, as they are registered (read per form, not at import)."""
    return [SelectChoice(platform.name, platform.label) for platform in chat_platforms.registered()]


class ChatLinkForm(WebForm):
    platform = SelectField(
        _l("Chat platform"), choices=platform_choices, default=lambda: next(iter(chat_platforms.names()), None)
    )
    channel = StringField(
        _l("Channel or room ID"),
        [DataRequired(_l("Enter the channel or room ID")), Length(max=255)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )

    def validate_channel(self, field: Field) -> None:
        problem = channel_problem(self.platform.data, field.data)
        if problem:
            raise ValidationError(sentence(problem))


class AddMemberForm(WebForm):
    email = email_field()
    name = StringField(_l("Name"), [Optional(), Length(max=200)], render_kw={"autocomplete": "off"})
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.member.value, coerce=choice_value)
    delivery = SelectField(
        _l("Email"), choices=DELIVERY_CHOICES, default=DELIVERY_CHOICES[0].value, coerce=choice_value
    )


class InviteForm(WebForm):
    """One address, or a spreadsheet of them saved as CSV (an email column, optionally name)."""

    email = EmailField(_l("Email address"), [Optional(), core_rule(normalize_email)], render_kw={"spellcheck": "false"})
    csv_file = FileField(_l("Or a CSV file of addresses"))
    days = IntegerField(
        _l("The link works for (days)"),
        [DataRequired(_l("Enter a number of days")), NumberRange(1, MAX_DAYS, _l("Enter a number from 1 to 90"))],
        default=DEFAULT_DAYS,
        widget=NumberInput(min=1, max=MAX_DAYS),
    )
    message = TextAreaField(
        _l("Message to put in the invitation"), [Optional(), Length(max=2000)], render_kw={"rows": 3}
    )


class DecisionForm(WebForm):
    """A facilitator's answer to a request to join; with a per-request prefix."""

    message = TextAreaField(_l("Message to the person asking"), [Optional(), Length(max=2000)], render_kw={"rows": 2})


class RoleForm(WebForm):
    """One member's role; with a per-member prefix, so every row's control has its own id."""

    role = SelectField(_l("Role"), choices=ROLE_CHOICES, coerce=choice_value)


class RejectForm(WebForm):
    """Why a held message is refused; with a per-post prefix."""

    reason = TextAreaField(_l("Reason for the sender"), [Optional(), Length(max=2000)], render_kw={"rows": 3})


class SettingsForm(WebForm):
    name = StringField(_l("Name"), [DataRequired(_l("Enter the community's name")), Length(max=200)])
    description = TextAreaField(_l("Description"), [Optional(), Length(max=5000)], render_kw={"rows": 4})
    category = StringField(_l("Category"), [Optional(), Length(max=CATEGORY_LENGTH)])
    visibility = RadioField(_l("Who can read it"), choices=VISIBILITY_CHOICES, coerce=choice_value)
    posting_policy = RadioField(_l("Who can post"), choices=POLICY_CHOICES, coerce=choice_value)
    language = RadioField(_l("Language of the community"), [Optional()], choices=COMMUNITY_LANGUAGE_CHOICES)
    moderate_new = IntegerField(
        _l("New members' posts reviewed first"),
        [
            Optional(),
            NumberRange(0, MAX_MODERATE_NEW, _l("Enter a number from 0 to 100")),
        ],
        widget=NumberInput(min=0, max=MAX_MODERATE_NEW),
        render_kw={"inputmode": "numeric"},
    )
    subject_prefix = StringField(_l("Subject prefix"), [Optional(), Length(max=64)])
