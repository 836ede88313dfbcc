"""Matrix as a platform: its settings, its room ids, and what runs of it where.

Only the worker role runs it: it sends the outbox rows and reads the rooms with a
``/sync`` loop, so nothing comes to the web. The bridge itself is :mod:`bridges.matrix`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bridges.platforms import ChatBridge, Listener, Running
from forum.config import setting
from forum.site import Site
from forum.translatable import N_

# A Matrix room id: "!" and an opaque part, then the server that made it (room versions
# before 12); from room version 12 the id is only "!" and a hash, without a server.
ROOM = re.compile(r"![^\s:]+(:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?)?")


@dataclass(frozen=True, kw_only=True)
class MatrixSettings:
    homeserver: str = setting("", "Homeserver URL, e.g. https://matrix.example.org; empty: no Matrix bridge.")
    user_id: str = setting("", "The relay account that posts for everyone, e.g. @listbridge:example.org.")
    access_token: str = setting("", "Access token of that account.")
    appservice_token: str = setting(
        "",
        "as_token of the application service registration ('listbridge bridge matrix-registration' prints it); when set, each author posts as a Matrix user of their own.",
    )
    hs_token: str = setting(
        "",
        "hs_token of that registration (the homeserver's token to the bridge; rooms are still read with /sync, so it is never used to receive).",
    )
    user_prefix: str = setting(
        "listbridge_",
        "Start of the localpart of those users: an author with address ana@example.org becomes @listbridge_ana=40example.org:SERVER.",
    )


def channel_problem(channel: str) -> str | None:
    if channel.startswith("#"):
        return "Enter the room ID, not an alias: it starts with ! (like !abc:example.org)"
    if not ROOM.fullmatch(channel):
        return "A Matrix room ID starts with ! and names its server, like !abc:example.org"
    return None


def unconfigured(options: MatrixSettings) -> str | None:
    if not options.homeserver:
        return "setting [matrix] homeserver is empty (it needs user_id and access_token too)"
    return None


def settings_problem(options: MatrixSettings) -> str | None:
    if options.homeserver and not (options.user_id and options.access_token):
        return "setting [matrix] homeserver needs user_id and access_token"
    if bool(options.appservice_token) != bool(options.hs_token):
        return "setting [matrix] appservice_token and hs_token go together (both from the registration)"
    if not re.fullmatch(r"[a-z0-9._=/-]+", options.user_prefix):
        return "setting [matrix] user_prefix may hold only a-z, 0-9 and . _ = - /"
    return None


def start(site: Site, sessions: sessionmaker[Session], options: MatrixSettings, *, web: bool, worker: bool) -> Running:
    if not worker:
        return Running()
    from bridges import matrix
    from bridges.matrix_puppets import Puppets

    api = matrix.MatrixApi(options)
    puppets = Puppets(api, options) if options.appservice_token else None
    sync = matrix.MatrixSync(api, site, sessions, puppets)
    return Running(adapter=matrix.MatrixAdapter(api, puppets), listeners=[Listener.thread("matrix sync", sync.run)])


PLATFORM = ChatBridge(
    name="matrix",
    label="Matrix",
    settings=MatrixSettings,
    channel_problem=channel_problem,
    channel_help=N_("in Element, Room settings, Advanced, the internal room ID, like !abc:example.org."),
    unconfigured=unconfigured,
    settings_problem=settings_problem,
    start=start,
)
