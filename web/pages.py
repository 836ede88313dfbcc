"""Pages about the site itself: the accessibility statement every page's footer links to.

The statement follows the GOV.UK model that UK public bodies publish under the
accessibility regulations: what works, what is known not to, how to ask for another
format or report a problem, the enforcement procedure, and how the site was tested.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template
from markupsafe import Markup

from web.state import state

bp = Blueprint("pages", __name__)

# When the statement's text was last checked against the site; change it with the text.
STATEMENT_REVIEWED = date(2026, 12, 7)


@bp.get("/accessibility")
def accessibility() -> str:
    settings = state().site.settings
    contact = settings.web.accessibility_contact or f"postmaster@{settings.site.mail_domain}"
    mail = Markup('<a href="mailto:{0}">{0}</a>').format(contact)
    return render_template("pages/accessibility.html", mail=mail, base_url=settings.site.base_url,
                           reviewed=STATEMENT_REVIEWED)
