"""The forms facilitators use; choices come from the core's enums and registry, so they cannot drift."""

from __future__ import annotations

from wtforms import Field, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from forum import chat_platforms
from forum.chat import channel_problem
from forum.models import PostingPolicy, Role, Visibility
from web.accounts.forms import DELIVERY_CHOICES, WebForm, choice_value, email_field

ROLE_CHOICES = [
    SelectChoice(Role.member.value, "Member"),
    SelectChoice(Role.moderator.value, "Moderator: approves held messages"),
    SelectChoice(Role.facilitator.value, "Facilitator: runs the community"),
]
VISIBILITY_CHOICES = [
    SelectChoice(Visibility.public.value, "Public: anyone can read it and join"),
    SelectChoice(Visibility.private.value, "Private: only members can read it; joining needs a facilitator's approval"),
]
POLICY_CHOICES = [
    SelectChoice(PostingPolicy.members.value, "Members can post; others are refused"),
    SelectChoice(PostingPolicy.moderated.value,
                 "Every message waits for a moderator (facilitators' and moderators' own do not)"),
    SelectChoice(PostingPolicy.open.value, "Anyone can post, members or not"),
]


def platform_choices() -> list[SelectChoice]:
    """The chat platforms the site knows, as they are registered (read per form, not at import)."""
    return [SelectChoice(platform.name, platform.label) for platform in chat_platforms.registered()]


class ChatLinkForm(WebForm):
    platform = SelectField("Chat platform", choices=platform_choices,
                           default=lambda: next(iter(chat_platforms.names()), None))
    channel = StringField("Channel or room ID", [DataRequired("Enter the channel or room ID"), Length(max=255)],
                          filters=[lambda value: value.strip() if isinstance(value, str) else value],
                          render_kw={"autocomplete": "off", "spellcheck": "false"})

    def validate_channel(self, field: Field) -> None:
        problem = channel_problem(self.platform.data, field.data)
        if problem:
            raise ValidationError(problem)


class AddMemberForm(WebForm):
    email = email_field()
    name = StringField("Name", [Optional(), Length(max=200)], render_kw={"autocomplete": "off"})
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.member.value, coerce=choice_value)
    delivery = SelectField("Email", choices=DELIVERY_CHOICES, default=DELIVERY_CHOICES[0].value, coerce=choice_value)


class RoleForm(WebForm):
    """One member's role; with a per-member prefix, so every row's control has its own id."""

    role = SelectField("Role", choices=ROLE_CHOICES, coerce=choice_value)


class RejectForm(WebForm):
    """Why a held message is refused; with a per-post prefix."""

    reason = TextAreaField("Reason for the sender", [Optional(), Length(max=2000)], render_kw={"rows": 3})


class SettingsForm(WebForm):
    name = StringField("Name", [DataRequired("Enter the community's name"), Length(max=200)])
    description = TextAreaField("Description", [Optional(), Length(max=5000)], render_kw={"rows": 4})
    visibility = RadioField("Who can read it", choices=VISIBILITY_CHOICES, coerce=choice_value)
    posting_policy = RadioField("Who can post", choices=POLICY_CHOICES, coerce=choice_value)
    subject_prefix = StringField("Subject prefix", [Optional(), Length(max=64)])
