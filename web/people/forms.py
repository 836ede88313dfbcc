"""The form a member keeps their profile with."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from forum.models import ProfileVisibility
from forum.profiles import MAX_BIO, MAX_FIELD, check_links, parse_expertise
from web.accounts.forms import WebForm, choice_value, core_rule
from web.i18n import lazy_gettext as _l

VISIBILITY_CHOICES = [
    SelectChoice(ProfileVisibility.shared.value, _l("Members of the communities I am in")),
    SelectChoice(ProfileVisibility.members.value, _l("Everyone signed in to this site")),
    SelectChoice(ProfileVisibility.nobody.value, _l("Nobody")),
]


class PublicProfileForm(WebForm):
    organisation = StringField(_l("Organisation"), [Length(max=MAX_FIELD)], render_kw={"autocomplete": "organization"})
    job_title = StringField(_l("Job title"), [Length(max=MAX_FIELD)], render_kw={"autocomplete": "organization-title"})
    region = StringField(_l("Region or local authority"), [Length(max=MAX_FIELD)])
    bio = TextAreaField(_l("About you"), [Length(max=MAX_BIO)], render_kw={"rows": 4})
    expertise = StringField(
        _l("Areas of expertise"), [Length(max=2000), core_rule(parse_expertise)], render_kw={"spellcheck": "true"}
    )
    links = TextAreaField(_l("Links"), [Length(max=3000), core_rule(check_links)], render_kw={"rows": 3})
    photo = FileField(_l("Photo"), render_kw={"accept": "image/jpeg,image/png,image/gif,image/webp"})
    remove_photo = BooleanField(_l("Remove my photo"))
    visibility = RadioField(_l("Who can see your profile"), choices=VISIBILITY_CHOICES, coerce=choice_value)
    show_email = BooleanField(_l("Show my email address on my profile"))
