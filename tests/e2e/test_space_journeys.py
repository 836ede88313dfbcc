"""Joining the spaces that are not open to all, in a real Chromium against a real ``listbridge serve``.

A visitor asks to join the restricted Wardens Lounge, giving a reason, confirms her address
by the link she is mailed, and is let in when its facilitator replies "approve" to the
notice; signed in, she reads it. A facilitator of the private Casework invites someone by
address, and the invitee joins with one press of the button in the mail's link.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pytest

from tests.e2e.world import ALICE, CAROL, PRIVATE_SUBJECT, World, browser_context, mail, text_of, to, wait_mail
from tests.integration.served import Browser

with contextlib.suppress(ImportError):  # the browser fixture skips every test here, saying why
    from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ERIN = "erin@council.example"
FRANK = "frank@council.example"


def link_in(received: Any, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\S+", text_of(received))
    assert found, text_of(received)
    return found.group(0)


def test_ask_to_join_a_restricted_space_and_be_approved_by_reply_mail(browser: Any, world: World) -> None:
    context = browser.new_context(base_url=world.base)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/c/lounge/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Wardens Lounge")
        expect(page.get_by_text("Only members of Wardens Lounge can read its conversations.")).to_be_visible()
        before = len(world.sink.messages)
        page.get_by_label("Your email address").fill(ERIN)
        page.get_by_label("Your name").fill("Erin Evans")
        page.get_by_label("Why you would like to join").fill("I am the new warden at Plas Coch.")
        page.get_by_label("Email from this community").select_option("daily")
        page.get_by_role("button", name="Send my request").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

        page.goto(link_in(wait_mail(world.sink, to(ERIN, "Confirm: join"), after=before), "/join-requests/confirm/"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Ask to join Wardens Lounge?")
        page.get_by_role("button", name="Send my request").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")

        # Erin has an account already (she runs the site): her request goes by its name.
        notice = wait_mail(world.sink, to(ALICE, "Erin Example asks to join"), after=before)
        assert "I am the new warden at Plas Coch." in text_of(notice)
        decide = notice.message["Reply-To"].addresses[0].addr_spec
        reply = mail(
            f"Alice Example <{ALICE}>",
            decide,
            "RE: [Wardens Lounge] Erin asks to join",
            "Approve - welcome, Erin!\r\n\r\n-----Original Message-----\r\n" + text_of(notice).replace("\n", "\r\n"),
            "approve-erin@council.example",
        )
        world.send(ALICE, decide, reply)
        welcome = wait_mail(world.sink, to(ERIN, "Welcome to Wardens Lounge"), after=before)
        assert "was approved" in text_of(welcome) and "welcome, Erin!" in text_of(welcome)

        # Signed in, she is a member: the page offers her what members have.
        page.goto("/signin")
        page.get_by_label("Email address").fill(ERIN)
        mark = len(world.sink.messages)
        page.get_by_role("button", name="Email me a sign-in link").click()
        page.goto(link_in(wait_mail(world.sink, to(ERIN, "Sign in to"), after=mark), "/signin/"))
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.goto("/c/lounge/")
        expect(page.get_by_role("region", name="Take part")).to_contain_text("You are a member. Email: one email a day")
        expect(page.get_by_role("heading", name="Threads")).to_be_visible()
    finally:
        context.close()


def test_invite_someone_to_a_private_space_who_joins_in_one_click(browser: Any, world: World) -> None:
    facilitator = browser_context(browser, world, CAROL)
    invitee = browser.new_context(base_url=world.base)
    invitee.set_default_timeout(10_000)
    try:
        page = facilitator.new_page()
        page.goto("/c/casework/manage/invitations")
        before = len(world.sink.messages)
        page.get_by_label("Email address").fill(FRANK)
        page.get_by_label("Message to put in the invitation").fill("Frank joins the tenancy team on Monday.")
        page.get_by_role("button", name="Send invitations").click()
        expect(page.get_by_role("status").first).to_have_text("1 invitation sent.")
        expect(page.get_by_role("table")).to_contain_text(FRANK)

        letter = wait_mail(world.sink, to(FRANK, "Invitation to join Casework"), after=before)
        assert "Frank joins the tenancy team on Monday." in text_of(letter)
        url = link_in(letter, "/invite/")
        assert Browser().get(url)[0] == 200  # a mail scanner's look joins nobody, and uses nothing up

        guest = invitee.new_page()
        guest.goto(url)
        expect(guest.get_by_role("heading", level=1)).to_have_text("You are invited to join Casework")
        guest.get_by_role("button", name="Join", exact=True).click()
        expect(guest.get_by_role("status").first).to_have_text("Welcome to Casework: you are a member now.")
        expect(guest.get_by_role("link", name=PRIVATE_SUBJECT)).to_be_visible()

        guest.goto(url)  # used: the link now leads nowhere, and says nothing of Casework
        expect(guest.get_by_role("heading", level=1)).not_to_contain_text("Casework")
        assert "Casework" not in guest.content()
        page.reload()
        expect(page.get_by_text("None.")).to_be_visible()
    finally:
        facilitator.close()
        invitee.close()
