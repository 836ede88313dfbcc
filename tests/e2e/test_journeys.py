"""What people do with the web archive, in a real Chromium against a real ``listbridge serve``.

A facilitator signs in by the link she is emailed and replies to a thread on the web; the
email member gets her reply threaded under the message it answers, replies from Outlook
with her words quoted, and his reply shows on the thread page with the quote folded away.
A private community's thread cannot be found by anyone outside it: not by its address,
not by search.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.world import (
    ALICE,
    BOB,
    CAROL,
    DAMP_QUESTION,
    DOMAIN,
    ERIN,
    PRIVATE_SUBJECT,
    PRIVATE_WORD,
    World,
    outlook_reply,
    sign_in,
    text_of,
    to,
    wait_mail,
)

with contextlib.suppress(ImportError):  # the browser fixture skips every test here, saying why
    from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WEB_REPLY = "Tell them to keep a window ajar and wipe condensation daily; log every report."
EMAIL_REPLY = "Agreed, and we give out the council's damp leaflet with the repair reference on it."


def reload_until(page: Page, text: str, timeout: float = 10.0) -> None:
    """Reload until ``text`` is on the page: mail is archived when the gateway accepts it,
    but a test must not rely on the order of two processes' work."""
    deadline = time.monotonic() + timeout
    while text not in page.content():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} did not appear on {page.url} within {timeout:.0f} s")
        time.sleep(0.2)
        page.reload()


def test_sign_in_by_link_reply_on_the_web_and_by_email(browser: Any, world: World) -> None:
    context = browser.new_context(base_url=world.base)
    try:
        page = context.new_page()
        # Always the whole sign-in here (not a saved session): this is the journey under test.
        sign_in(world, page, ALICE)
        expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Alice Example")).to_be_visible()

        page.goto(world.damp_thread)
        expect(page.get_by_role("heading", level=1)).to_have_text("Damp and mould advice")
        before = len(world.sink.messages)
        page.get_by_label("Your reply").fill(f"**Ventilation first.** {WEB_REPLY}")
        page.get_by_role("button", name="Post reply").click()
        expect(page.get_by_role("status").first).to_have_text("Your message is posted.")
        assert re.search(r"#post-\d+$", page.url), f"a posted reply leads to its permalink, not {page.url}"
        mine = page.locator(f"article{page.url[page.url.index('#') :]}")
        expect(mine).to_contain_text(WEB_REPLY)
        expect(mine.locator("strong")).to_have_text("Ventilation first.")  # Markdown in, HTML out

        # The email member's copy, threaded under the message it answers (Bob's, by email).
        copy = wait_mail(world.sink, lambda m: BOB in m.rcpt_tos and WEB_REPLY in text_of(m), after=before)
        message = copy.message
        assert message["In-Reply-To"] == "<damp1@council.example>", message["In-Reply-To"]
        assert "<damp1@council.example>" in str(message["References"]).split()
        assert message["Message-ID"] and message["Message-ID"] != "<damp1@council.example>"
        assert str(message["Subject"]).endswith("Damp and mould advice")
        assert "Ventilation first." in text_of(copy)
        assert "Alice Example" in str(message["From"])
        reply_to = message["Reply-To"].addresses[0].addr_spec
        assert re.fullmatch(rf"housing\+[^@]+@{re.escape(DOMAIN)}", reply_to), reply_to
        assert str(message["Archived-At"]).strip("<>") == page.url, "Archived-At names the post's permalink"

        # Bob answers from Outlook, to the copy's reply address, with Alice's words quoted.
        world.send(
            BOB,
            reply_to,
            outlook_reply(
                BOB, reply_to, str(message["Subject"]), EMAIL_REPLY, copy, WEB_REPLY, "damp2@council.example"
            ),
        )
        page.goto(world.damp_thread)
        reload_until(page, EMAIL_REPLY)
        bobs = page.locator("article.post").filter(has_text=EMAIL_REPLY)
        expect(bobs.get_by_role("heading")).to_have_text("Bob Example")
        folded = bobs.locator("details.quoted")
        expect(folded.locator("summary")).to_have_text("Show quoted text")
        expect(bobs.locator(".post-body")).not_to_contain_text("Original Message")
        expect(folded.get_by_text("Original Message")).to_be_hidden()
        folded.locator("summary").click()
        expect(folded.get_by_text("Original Message")).to_be_visible()
        expect(folded).to_contain_text(WEB_REPLY)
        assert page.locator("article.post").count() >= 3
        assert DAMP_QUESTION in page.content()
    finally:
        context.close()


def search_for(page: Page, words: str) -> None:
    """Search as a visitor does: the search box in the page header."""
    page.goto("/")
    page.get_by_role("search").first.get_by_label("Search posts").fill(words)
    page.get_by_role("search").first.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Search")


@pytest.mark.parametrize("who", [None, ALICE], ids=["visitor", "signed-in-non-member"])
def test_outsiders_cannot_find_a_private_thread(new_context: Callable[..., Any], world: World, who: str | None) -> None:
    page = new_context(as_=who).new_page()
    for path in (world.private_thread, "/c/casework/", "/c/casework/feed.atom", world.private_thread + ".mbox"):
        response = page.goto(path)
        assert response is not None and response.status == 404, f"{path}: {response and response.status}"
        if not path.endswith((".atom", ".mbox")):
            expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        assert PRIVATE_WORD not in page.content() and "Casework" not in page.content()

    search_for(page, PRIVATE_WORD)
    expect(page.locator("#results-heading")).to_have_text("No results")
    assert PRIVATE_WORD not in page.locator("main").inner_text().replace(f"Search: {PRIVATE_WORD}", "")
    page.goto("/")
    expect(page.get_by_role("link", name="Casework")).to_have_count(0)


def test_a_member_finds_the_private_thread(new_context: Callable[..., Any], world: World) -> None:
    page = new_context(as_=CAROL).new_page()
    search_for(page, PRIVATE_WORD)
    expect(page.locator("#results-heading")).to_have_text("1 result")
    result = page.locator("ol.results").get_by_role("link", name=PRIVATE_SUBJECT)
    expect(result.locator("mark")).to_have_text(PRIVATE_WORD)  # highlighted where it matched
    result.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PRIVATE_SUBJECT)
    assert page.url.split("#")[0] == world.url(world.private_thread)
    page.goto("/")
    expect(page.get_by_role("link", name="Casework", exact=True)).to_be_visible()


def test_requesting_a_community_and_its_approval(new_context: Callable[..., Any], world: World) -> None:
    """A member asks for a community on the web; a site administrator, told by mail, approves
    it on the web; the member, told by mail, finds it under "Your communities" and runs it."""
    before = len(world.sink.messages)
    member = new_context(as_=BOB).new_page()
    member.goto("/")
    member.get_by_role("link", name="Ask for a new community").click()
    expect(member.get_by_role("heading", level=1)).to_have_text("Ask for a new community")
    member.get_by_label("Name", exact=True).fill("Homelessness Prevention")
    member.get_by_label("Purpose", exact=True).fill("Officers preventing homelessness share what works.")
    member.get_by_label("Category").fill("housing")
    member.get_by_role("radio", name=re.compile("^Private")).check()
    member.get_by_role("button", name="Send the request").click()
    expect(member.get_by_role("heading", level=1)).to_have_text("Request sent")

    asked = text_of(wait_mail(world.sink, to(ERIN, "asks for a new community"), after=before))
    link = re.search(r"https?://\S+(/admin/requests)", asked)
    assert link, asked
    admin = new_context(as_=ERIN).new_page()
    admin.goto(link.group(1))
    request = admin.get_by_role("article").filter(has_text="Homelessness Prevention")
    expect(request).to_contain_text("homelessness-prevention@")
    request.get_by_label("Message to the requester").fill("Welcome aboard.")
    request.get_by_role("button", name="Approve and make it").click()
    expect(admin.get_by_role("status").first).to_contain_text("Homelessness Prevention is made")
    expect(admin.get_by_role("article").filter(has_text="Homelessness Prevention")).to_have_count(0)

    ready = text_of(wait_mail(world.sink, to(BOB, "Homelessness Prevention is ready"), after=before))
    assert f"homelessness-prevention@{DOMAIN}" in ready and "Welcome aboard." in ready
    member.goto("/")
    yours = member.get_by_role("table", name="Your communities")
    yours.get_by_role("link", name="Homelessness Prevention", exact=True).click()
    expect(member.get_by_role("heading", level=1)).to_contain_text("Homelessness Prevention")
    member.goto("/c/homelessness-prevention/manage/settings")
    expect(member.get_by_label("Category")).to_have_value("Housing")  # joined the category in use
    expect(member.get_by_role("radio", name=re.compile("^Private"))).to_be_checked()

    visitor = new_context().new_page()
    visitor.goto("/communities?q=homelessness")
    expect(visitor.get_by_role("heading", level=2)).to_have_text("0 communities")  # private: not listed


# What a newcomer reads and presses, in each language.
JOINING = {
    "en": {
        "email": "Email address",
        "daily": "One email a day, with everything new",
        "join": "Join Housing Advice",
        "check": "Check your email",
        "subject": "Confirm: join Housing Advice",
        "confirm": "Join Housing Advice?",
        "name": "Your name (optional)",
        "welcome": "Welcome to Housing Advice: you are a member.",
    },
    "cy": {
        "email": "Cyfeiriad e-bost",
        "daily": "Un e-bost y dydd, gyda phopeth newydd",
        "join": "Ymuno â Housing Advice",
        "check": "Gwiriwch eich e-bost",
        "subject": "Cadarnhau: ymuno â Housing Advice",
        "confirm": "Ymuno â Housing Advice?",
        "name": "Eich enw (dewisol)",
        "welcome": "Croeso i Housing Advice: rydych yn aelod.",
    },
}


@pytest.mark.parametrize("lang", JOINING)
def test_a_visitor_joins_from_the_page_and_confirms_by_the_mailed_link(browser: Any, world: World, lang: str) -> None:
    """No account beforehand: an address and a choice on the community's page, the link from
    the mail, a name and the button; then a member, signed in, on the community's page. Each
    page on the way passes axe."""
    from axe_playwright_python.sync_playwright import Axe

    words, address = JOINING[lang], f"newcomer-{lang}@council.example"
    axe = Axe()

    def passes_axe(page: Page) -> None:
        results = axe.run(page).response
        serious = [rule["id"] for rule in results["violations"] if rule["impact"] in ("serious", "critical")]
        assert not serious, f"{page.url}: {serious}"

    context = browser.new_context(base_url=world.base, locale={"en": "en-GB", "cy": "cy"}[lang])
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/c/housing/")
    expect(page.get_by_role("link", name=f"housing@{DOMAIN}")).to_have_attribute("href", f"mailto:housing@{DOMAIN}")
    passes_axe(page)
    page.get_by_label(words["email"]).fill(address)
    page.get_by_label(words["daily"]).check()
    before = len(world.sink.messages)
    page.get_by_role("button", name=words["join"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["check"])
    passes_axe(page)

    letter = wait_mail(world.sink, lambda m: address in m.rcpt_tos, after=before)
    assert letter.message["Subject"] == words["subject"]
    link = re.search(r"https?://\S+/confirm/\S+", text_of(letter))
    assert link, text_of(letter)
    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirm"])
    passes_axe(page)
    page.get_by_label(words["name"]).fill(f"Newcomer {lang}")
    page.get_by_role("button", name=words["join"], exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text(words["welcome"])
    expect(page.get_by_role("navigation", name={"en": "Account", "cy": "Cyfrif"}[lang])).to_contain_text(
        f"Newcomer {lang}"
    )
    assert page.url == world.url("/c/housing/")
    passes_axe(page)
    context.close()
