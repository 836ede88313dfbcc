"""Slack as a platform: its settings, its channel ids, and what runs of it where.

The web role serves Slack's Events API at ``/slack/events`` (unless Socket Mode is set
up); the worker role sends its outbox rows and, with Socket Mode, holds the websocket.
The bridge itself is :mod:`bridges.slack`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bridges.platforms import ChatBridge, Listener, Running
from forum.config import setting
from forum.site import Site
from forum.translatable import N_

# A Slack channel id: C (public) or G (private, older workspaces), then capitals and
# digits. Slack's are 9 to 11 characters today; the shape, not the length, is what tells
# an id from a channel's name, so shorter ids (older workspaces, test doubles) pass.
CHANNEL = re.compile(r"[CG][A-Z0-9]{2,20}")


@dataclass(frozen=True, kw_only=True)
class SlackSettings:
    bot_token: str = setting("", "Bot token (xoxb-…) of the Slack app; empty: no Slack bridge.")
    signing_secret: str = setting("", "Signing secret of the Slack app: events at /slack/events are verified with it.")
    app_token: str = setting(
        "", "App-level token (xapp-…): when set, events come over Socket Mode instead of /slack/events."
    )
    api_base_url: str = setting(
        "https://slack.com/api/", "Base URL of the Slack Web API (tests and staging point it elsewhere)."
    )


def channel_problem(channel: str) -> str | None:
    if channel.startswith("#"):
        return "Enter the channel ID, not its name: it looks like C0123ABCD"
    if not CHANNEL.fullmatch(channel):
        return "A Slack channel ID is a C or G followed by capital letters and digits, like C0123ABCD"
    return None


def unconfigured(options: SlackSettings) -> str | None:
    if not options.bot_token:
        return "setting [slack] bot_token is empty (it needs signing_secret or app_token too)"
    return None


def settings_problem(options: SlackSettings) -> str | None:
    if options.bot_token and not (options.signing_secret or options.app_token):
        return "setting [slack] bot_token needs signing_secret (Events API) or app_token (Socket Mode)"
    return None


def start(site: Site, sessions: sessionmaker[Session], options: SlackSettings, *, web: bool, worker: bool) -> Running:
    from bridges import slack  # the Slack SDK: loaded only by a process that bridges Slack

    client = slack.web_client(options)
    app = slack.bolt_app(options, slack.SlackInbound(site, sessions, client))
    listeners = []
    if worker and options.app_token:
        handler = slack.socket_mode(app, options)
        listeners.append(Listener(open=handler.connect, close=handler.close))
    return Running(
        adapter=slack.SlackAdapter(client) if worker else None,
        endpoints=[slack.events_blueprint(app)] if web and not options.app_token else [],
        listeners=listeners,
    )


PLATFORM = ChatBridge(
    name="slack",
    label="Slack",
    settings=SlackSettings,
    channel_problem=channel_problem,
    channel_help=N_("open the channel's details (click its name); the channel ID, like C0123ABCD, is at the bottom."),
    unconfigured=unconfigured,
    settings_problem=settings_problem,
    start=start,
)
