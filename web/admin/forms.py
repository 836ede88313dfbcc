"""The forms for asking for a community and for running communities as a site administrator.

The kinds of space offered are the core's ``Visibility`` values, named as the facilitators'
settings name them, so a new kind appears here when the core has it.
"""

from __future__ import annotations

from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from forum.catalogue import CATEGORY_LENGTH
from forum.models import Visibility
from web.accounts.forms import WebForm, choice_value
from web.i18n import lazy_gettext as _l
from web.manage.forms import VISIBILITY_CHOICES


def visibility_choices() -> list[SelectChoice]:
    named = {choice.value: choice.label for choice in VISIBILITY_CHOICES}
    return [SelectChoice(kind.value, named.get(kind.value, kind.value)) for kind in Visibility]


class CommunityForm(WebForm):
    """What a community is: asked for by a member, edited by a site administrator."""

    name = StringField(_l("Name"), [DataRequired(_l("Enter the community's name")), Length(max=200)])
    description = TextAreaField(_l("Purpose"), [Optional(), Length(max=5000)], render_kw={"rows": 4})
    category = StringField(_l("Category"), [Optional(), Length(max=CATEGORY_LENGTH)])
    visibility = RadioField(
        _l("Kind of space"), choices=visibility_choices, default=Visibility.public.value, coerce=choice_value
    )


class RequestForm(CommunityForm):
    description = TextAreaField(
        _l("Purpose"), [DataRequired(_l("Say what the community is for")), Length(max=5000)], render_kw={"rows": 4}
    )
    slug = StringField(
        _l("Address"),
        [Optional(), Length(max=64)],
        filters=[lambda value: value.strip().lower() if isinstance(value, str) else value],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class DecisionForm(WebForm):
    """A note with an approval, or the reason for declining; with a per-request prefix."""

    note = TextAreaField(_l("Message to the requester"), [Optional(), Length(max=2000)], render_kw={"rows": 3})
