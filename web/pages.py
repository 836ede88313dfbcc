"""Pages about the site itself: the accessibility statement every page's footer links to,
and the page any other HTTP error shows (a form that could not be read, a wrong method, too
large an upload), in the reader's language rather than the server's English default.

The statement follows the GOV.UK model that UK public bodies publish under the
accessibility regulations: what works, what is known not to, how to ask for another
format or report a problem, the enforcement procedure, and how the site was tested.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from web.i18n import LazyText
from web.i18n import lazy_gettext as _l
from web.state import state

bp = Blueprint("pages", __name__)

COULD_NOT = (
    _l("Sorry, that did not work"),
    _l("This site could not make sense of what your browser sent. Go back, reload the page and try again."),
)
ERRORS: dict[int, tuple[LazyText, LazyText]] = {
    413: (
        _l("That is too large"),
        _l("What you sent is larger than this site accepts. Send a smaller file, or a link to it instead."),
    ),
    500: (_l("Sorry, there is a problem with the service"), _l("Try again later.")),
}

# When the statement's text was last checked against the site; change it with the text.
STATEMENT_REVIEWED = date(2026, 12, 7)


@bp.get("/accessibility")
def accessibility() -> str:
    settings = state().site.settings
    contact = settings.web.accessibility_contact or f"postmaster@{settings.site.mail_domain}"
    mail = Markup('<a href="mailto:{0}">{0}</a>').format(contact)
    return render_template(
        "pages/accessibility.html", mail=mail, base_url=settings.site.base_url, reviewed=STATEMENT_REVIEWED
    )


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str, int]:
    """Every HTTP error without a page of its own (404 has one: ``web.archive``)."""
    code = error.code or 500
    title, text = ERRORS.get(code, COULD_NOT)
    return render_template("accounts/message.html", title=title, text=text, links=()), code
