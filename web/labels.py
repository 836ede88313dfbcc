"""The core's values as pages name them, in the page's language.

Roles, statuses, deliveries and sources are stored as English words (``Role.member``);
a page never shows the stored word, but its name from here.
"""

from __future__ import annotations

from enum import Enum

from forum.models import Delivery, MemberStatus, Role
from forum.roster import BounceState
from web.i18n import LazyText
from web.i18n import lazy_gettext as _l

ROLE_NAMES = {Role.member: _l("Member"), Role.moderator: _l("Moderator"), Role.facilitator: _l("Facilitator")}
STATUS_NAMES = {
    MemberStatus.active: _l("Active"),
    MemberStatus.pending: _l("Asking to join"),
    MemberStatus.banned: _l("Banned"),
}
DELIVERY_NAMES = {
    Delivery.each: _l("Each message"),
    Delivery.daily: _l("Daily digest"),
    Delivery.weekly: _l("Weekly digest"),
    Delivery.none: _l("No email"),
}
BOUNCE_NAMES = {
    BounceState.ok: _l("No bounces"),
    BounceState.bouncing: _l("Bouncing"),
    BounceState.disabled: _l("Stopped by bounces"),
}
SOURCE_NAMES = {
    "email": _l("email"),
    "web": _l("the web"),
    "import": _l("import"),
    "slack": "Slack",
    "matrix": "Matrix",
}


def _namer(names: dict[object, LazyText]) -> object:
    def name(value: Enum | str) -> str:
        return str(names.get(value, value.value if isinstance(value, Enum) else value))

    return name


TEMPLATE_GLOBALS = {
    "role_name": _namer(ROLE_NAMES),  # type: ignore[arg-type]
    "status_name": _namer(STATUS_NAMES),  # type: ignore[arg-type]
    "delivery_name": _namer(DELIVERY_NAMES),  # type: ignore[arg-type]
    "source_name": _namer(SOURCE_NAMES),  # type: ignore[arg-type]
    "bounce_name": _namer(BOUNCE_NAMES),  # type: ignore[arg-type]
    # The names themselves, for a filter's choices.
    "role_names": ROLE_NAMES,
    "delivery_names": DELIVERY_NAMES,
    "bounce_names": BOUNCE_NAMES,
    "status_names": STATUS_NAMES,
}
