"""The core's values as pages name them, in the page's language.

Roles, statuses, deliveries and sources are stored as English words (``Role.member``);
a page never shows the stored word, but its name from here.
"""

from __future__ import annotations

from enum import Enum

from forum.models import Delivery, MemberStatus, RequestStatus, Role, Visibility
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
REQUEST_STATUS_NAMES = {
    RequestStatus.pending: _l("Waiting for a decision"),
    RequestStatus.approved: _l("Approved"),
    RequestStatus.declined: _l("Declined"),
}
VISIBILITY_NAMES = {Visibility.public: _l("Public"), Visibility.private: _l("Private")}
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
    "request_status_name": _namer(REQUEST_STATUS_NAMES),  # type: ignore[arg-type]
    "visibility_name": _namer(VISIBILITY_NAMES),  # type: ignore[arg-type]
}
