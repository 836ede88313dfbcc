"""The facilitator's path from the home page to a held post and back, in a real Chromium
against a real ``listbridge serve``: the "Manage" link says what waits, the held post is
approved, and the community page then shows it."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from tests.e2e.world import ALICE, BOB, DOMAIN, World, browser_context, text_of, to, wait_mail
from tests.integration.served import mail

with contextlib.suppress(ImportError):  # the browser fixture skips every test here, saying why
    from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SUBJECT = "Joint response to the housing strategy"
BODY = "Shall we write one response for the whole network? Draft by Friday."


def test_from_the_home_page_to_the_held_post_and_back(browser: Any, world: World) -> None:
    planning = f"planning@{DOMAIN}"
    world.send(BOB, planning, mail(f"Bob Example <{BOB}>", planning, SUBJECT, BODY, "journey1@council.example"))
    wait_mail(world.sink, to(ALICE, SUBJECT))  # held: its facilitator is told
    context = browser_context(browser, world, ALICE)
    try:
        page = context.new_page()
        page.goto("/")
        manage = page.get_by_role("link", name="Manage Planning")
        expect(manage).to_be_visible()
        badge = manage.locator("xpath=following-sibling::span[contains(@class, 'badge')]")
        expect(badge).to_contain_text("held post")
        manage.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Held messages")
        nav = page.get_by_role("navigation", name="Manage Planning")
        expect(nav.get_by_role("link", name="Held messages")).to_have_attribute("aria-current", "page")

        held = page.locator("article.post").filter(has=page.get_by_role("heading", name=SUBJECT))
        expect(held).to_contain_text(BODY)
        before = len(world.sink.messages)
        held.get_by_role("button", name="Approve and publish").click()
        expect(page.get_by_role("status").first).to_contain_text(f"“{SUBJECT}” is published")
        expect(page.get_by_role("heading", name=SUBJECT)).to_have_count(0)

        nav.get_by_role("link", name="Back to Planning").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Planning")
        thread = page.get_by_role("link", name=SUBJECT)
        expect(thread).to_be_visible()
        thread.click()
        expect(page.locator("article.post")).to_contain_text(BODY)
        copy = wait_mail(world.sink, lambda m: BOB not in m.rcpt_tos and BODY in text_of(m), after=before)
        assert ALICE in copy.rcpt_tos, "the approved post is mailed to the members"
    finally:
        context.close()
