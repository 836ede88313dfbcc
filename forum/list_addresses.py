"""A community's mail addresses, as people write to them: to post, to join, to leave, to
reach its facilitators.

The gateway reads these addresses (``mailgateway.addresses`` builds on this) and the web
shows them on a community's page, so the rule lives here where both may use it.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBSCRIBE, UNSUBSCRIBE, OWNER = "subscribe", "unsubscribe", "owner"


def post_address(slug: str, domain: str) -> str:
    return f"{slug}@{domain}"


def command_address(command: str, slug: str, domain: str) -> str:
    """``slug-subscribe@domain``, ``slug-unsubscribe@domain``, ``slug-owner@domain`` …"""
    return f"{slug}-{command}@{domain}"


@dataclass(frozen=True)
class ListAddresses:
    """The addresses a community's page names."""

    post: str
    subscribe: str
    unsubscribe: str
    owner: str


def list_addresses(slug: str, domain: str) -> ListAddresses:
    return ListAddresses(
        post=post_address(slug, domain),
        subscribe=command_address(SUBSCRIBE, slug, domain),
        unsubscribe=command_address(UNSUBSCRIBE, slug, domain),
        owner=command_address(OWNER, slug, domain),
    )
