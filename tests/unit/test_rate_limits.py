"""The one limiter on mail sent in answer: addresses normalised, and counted per address,
per community and for the whole site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from forum import rate_limits
from forum.config import Settings
from forum.confirmations import authentication_required
from forum.models import Community, Visibility
from forum.site import Site


def test_an_address_is_counted_as_the_mailbox_it_reaches() -> None:
    for written in ("Victim+1@Example.org", "victim+newsletter@example.org", " <victim@EXAMPLE.ORG> "):
        assert rate_limits.normalize_address(written) == "victim@example.org"
    assert rate_limits.normalize_address("+tag@example.org") == "+tag@example.org", "nothing left to drop"


def test_each_allowance_ends_the_answers(
    make_settings: Callable[..., Settings], sessionmaker: sessionmaker[Session]
) -> None:
    site = Site.from_settings(
        make_settings(answers={"per_address_per_hour": 2, "per_community_per_hour": 3, "per_site_per_hour": 10})
    )

    def answers(address: str, **where: Any) -> bool:
        with sessionmaker.begin() as session:
            return rate_limits.may_answer(session, site, address, **where)

    assert [answers(f"Ann+{n}@example.org") for n in range(3)] == [True, True, False]
    assert answers("ann@example.org", purpose=rate_limits.SIGN_IN), "another purpose has its own allowance"
    assert [answers(f"p{n}@example.org", community_id=7) for n in range(4)] == [True, True, True, False]
    assert answers("p9@example.org", community_id=8), "another community"
    assert [answers(f"s{n}@example.org") for n in range(4)] == [True, True, True, False], "the site's ten"


def test_which_communities_require_authentication(make_settings: Callable[..., Settings]) -> None:
    public, private = Community(visibility=Visibility.public), Community(visibility=Visibility.private)
    auto = make_settings()
    assert not authentication_required(auto, public) and authentication_required(auto, private)
    upstream = make_settings(smtp_in={"trusted_authserv_ids": ["mx.example.org"]})
    assert authentication_required(upstream, public)
    assert authentication_required(make_settings(smtp_in={"require_authentication": "always"}), public)
    assert not authentication_required(make_settings(smtp_in={"require_authentication": "never"}), private)
    public.require_authentication = "always"
    private.require_authentication = "never"
    assert authentication_required(auto, public) and not authentication_required(upstream, private)
