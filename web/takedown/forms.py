"""The forms of taking things down; each confirms one action, so none needs JavaScript."""

from __future__ import annotations

from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from forum.reports import REASON_CHARS
from web.accounts.forms import MAX_BODY, WebForm
from web.i18n import lazy_gettext as _l


class EditForm(WebForm):
    body = TextAreaField(
        _l("Message"),
        [DataRequired(_l("Enter the text of your message")), Length(max=MAX_BODY)],
        render_kw={"rows": 12},
    )


class ReportForm(WebForm):
    reason = TextAreaField(
        _l("What is wrong with this post?"),
        [DataRequired(_l("Say what is wrong with the post")), Length(max=REASON_CHARS)],
        render_kw={"rows": 4},
    )


class ReasonForm(WebForm):
    """Why a post or thread is hidden, or a member banned: for the log, optional."""

    reason = TextAreaField(
        _l("Reason (kept in the log)"), [Optional(), Length(max=REASON_CHARS)], render_kw={"rows": 3}
    )


class ConfirmForm(WebForm):
    """Only the button (and the CSRF token the app checks)."""
