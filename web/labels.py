"""The core's values as pages name them, in the page's language.

Roles, statuses, deliveries and sources are stored as English words (``Role.member``);
a page never shows the stored word, but its name from here.
"""

from __future__ import annotations

from enum import Enum

from forum.models import Delivery, MemberStatus, RequestStatus, Role, Visibility
from forum.moderation_log import LogAction, LogLine
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
REQUEST_STATUS_NAMES = {
    RequestStatus.pending: _l("Waiting for a decision"),
    RequestStatus.approved: _l("Approved"),
    RequestStatus.declined: _l("Declined"),
}
VISIBILITY_NAMES = {
    Visibility.public: _l("Public"),
    Visibility.restricted: _l("Restricted"),
    Visibility.private: _l("Private"),
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

LOG_ACTION_NAMES = {
    LogAction.edit: _l("Edited their post"),
    LogAction.delete: _l("Deleted their post"),
    LogAction.hide: _l("Hid a post"),
    LogAction.unhide: _l("Showed a post again"),
    LogAction.hide_thread: _l("Hid a thread"),
    LogAction.unhide_thread: _l("Showed a thread again"),
    LogAction.report: _l("Reported a post"),
    LogAction.resolve: _l("Answered a report"),
    LogAction.ban: _l("Banned a member"),
    LogAction.unban: _l("Lifted a ban"),
    LogAction.approve: _l("Approved a held message"),
    LogAction.reject: _l("Rejected a held message"),
}
RESOLUTION_NAMES = {"hidden": _l("The post was hidden."), "dismissed": _l("The report was dismissed.")}


def log_detail(line: LogLine) -> str:
    """What an entry's detail says: a reason as it was written, an answer to a report by name."""
    if line.action is LogAction.resolve:
        return str(RESOLUTION_NAMES.get(line.detail, line.detail))
    return line.detail


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
    "log_action_name": _namer(LOG_ACTION_NAMES),  # type: ignore[arg-type]
    "log_detail": log_detail,
    "bounce_name": _namer(BOUNCE_NAMES),  # type: ignore[arg-type]
    # The names themselves, for a filter's choices.
    "role_names": ROLE_NAMES,
    "delivery_names": DELIVERY_NAMES,
    "bounce_names": BOUNCE_NAMES,
    "status_names": STATUS_NAMES,
}
