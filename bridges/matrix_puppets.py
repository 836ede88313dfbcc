"""Matrix puppets: each forum author posts as a Matrix user of their own.

An application service may act as any user in its namespace: the bridge registers
``@PREFIX<address>:server`` for an author on first use, sets its display name to the
author's name, has the relay account invite it to the room and joins it, then sends as it
(the appservice token with ``?user_id=``). The relay account stays an ordinary account:
it reads the rooms, invites the puppets and answers refused messages. Without an
appservice token it posts for everyone and names the author in the text instead.

The registration file the homeserver needs is :func:`registration`; it asks for no
transactions (``url: null``): the bridge keeps reading rooms with the relay account's
``/sync``, where a puppet's messages are recognised by their sender and never taken back in.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import TYPE_CHECKING

from bridges.base import PermanentFailure
from bridges.platforms.matrix import MatrixSettings
from forum.errors import ConfigError

if TYPE_CHECKING:
    from bridges.matrix import MatrixApi

SAFE = re.compile(r"[a-z0-9._-]")
APPSERVICE_ID = "listbridge"


def server_name(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def registration(settings: MatrixSettings) -> str:
    """The application service registration (YAML) for the homeserver's ``app_service_config_files``."""
    if not (settings.user_id and settings.appservice_token and settings.hs_token):
        raise ConfigError(
            "setting [matrix] user_id, appservice_token and hs_token are needed for a registration "
            "(make the two tokens up, e.g. with 'openssl rand -hex 32')"
        )
    users = "@" + re.escape(settings.user_prefix) + ".*:" + re.escape(server_name(settings.user_id))
    lines = [
        "# listbridge: add this file to app_service_config_files in homeserver.yaml, then restart the homeserver.",
        f"id: {json.dumps(APPSERVICE_ID)}",
        "url: null  # the bridge reads rooms with /sync: no transactions are pushed to it",
        f"as_token: {json.dumps(settings.appservice_token)}",
        f"hs_token: {json.dumps(settings.hs_token)}",
        f"sender_localpart: {json.dumps(settings.user_prefix + 'bridge')}  # the service's own user, idle: the relay "
        "account stays an ordinary account",
        "rate_limited: false",
        "namespaces:",
        "  users:",
        "    - exclusive: true",
        f"      regex: {json.dumps(users)}",
        "  aliases: []",
        "  rooms: []",
    ]
    return "\n".join(lines) + "\n"


class Puppets:
    """The authors' Matrix users: made, named and joined on first use, then remembered."""

    def __init__(self, api: MatrixApi, settings: MatrixSettings) -> None:
        self.api = api
        self.prefix = settings.user_prefix
        self.server = server_name(settings.user_id)
        self._registered: set[str] = set()
        self._names: dict[str, str] = {}
        self._joined: set[tuple[str, str]] = set()

    def user_id(self, author_key: str) -> str:
        """``ana@example.org`` → ``@PREFIXana=40example.org:server`` (what a localpart may not hold, as =XX)."""
        escaped = "".join(
            c if SAFE.fullmatch(c) else "".join(f"={b:02x}" for b in c.encode()) for c in author_key.lower()
        )
        return f"@{self.prefix}{escaped}:{self.server}"

    def owns(self, user_id: str) -> bool:
        return user_id.startswith("@" + self.prefix) and server_name(user_id) == self.server

    def ready(self, room: str, author_key: str, name: str) -> str:
        """The author's user, registered, named ``name`` and in ``room``."""
        user = self.user_id(author_key)
        if user not in self._registered:
            localpart = user.split(":", 1)[0][1:]
            try:
                self.api.call(
                    "POST", "/register", {"type": "m.login.application_service", "username": localpart}, as_user=""
                )
            except PermanentFailure as exc:
                if "M_USER_IN_USE" not in str(exc):
                    raise
            self._registered.add(user)
        if self._names.get(user) != name:
            self.api.call("PUT", f"/profile/{_q(user)}/displayname", {"displayname": name}, as_user=user)
            self._names[user] = name
        if (user, room) not in self._joined:
            try:
                self.api.call("POST", f"/rooms/{_q(room)}/invite", {"user_id": user})
            except PermanentFailure as exc:  # already invited or in the room; joining says if it is anything else
                if "M_FORBIDDEN" not in str(exc):
                    raise
            self.api.call("POST", f"/join/{_q(room)}", {}, as_user=user)
            self._joined.add((user, room))
        return user


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")
