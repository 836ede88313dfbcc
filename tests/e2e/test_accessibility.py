"""WCAG 2.2 AA checks of the main pages, in English and in Welsh, in a real Chromium against
a real ``listbridge serve`` (the accessibility statement, ``/accessibility``, says so).

Each page is checked twice: as a browser asking for English, and as one asking for Welsh
(``Accept-Language: cy``), whose longer words must reflow as well.

* axe-core (bundled in axe-playwright-python: nothing is fetched) finds no serious or
  critical violation on any page, in its error states too; lesser findings are printed.
* The skip link is the first thing Tab reaches, shows itself, and moves focus to ``main``.
* Every form control has an accessible name, as Chromium's own accessibility tree
  computes it (a second opinion beside axe's ``label`` rules).
* Reflow (1.4.10) and resize text (1.4.4): the page body never scrolls sideways, from
  320 CSS px (400% zoom of a 1280 px window) through 640 (200% zoom) to 1280, nor at
  1280 and 640 with text alone at 200%.
* Without JavaScript a person can sign in, read (quoted text unfolds: it is a native
  ``<details>``), search and post.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.e2e.world import ALICE, BOB, DAVE, ERIN, GPS_QUESTION, SEEDED_INVITATION, World, browser_context, sign_in

try:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Page, ViewportSize, expect
except ImportError:  # the browser fixture skips every test here, saying why
    pass

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Case:
    who: str | None  # signed in as, or a visitor
    path: str  # may name a seeded thread: "{gps_thread}"
    status: int = 200
    submit: str = ""  # press this button first (an empty form: the page with its errors)
    must_show: tuple[str, ...] = ()  # selectors proving the page shows what it is meant to check
    fill: tuple[tuple[str, str], ...] = ()  # (selector, text) typed before pressing ``submit``
    lang: str = "en"  # the language the browser asks for


PREVIEWED = "A **bold** point, a [link](https://www.gov.uk) and a list:\n\n- one\n- two\n\n> a quote"


ENGLISH = {
    "home": Case(None, "/", must_show=("main a[href='/communities']",)),
    "home-member": Case(ALICE, "/", must_show=("table.listing a[href='/c/housing/']",)),
    "communities": Case(None, "/communities", must_show=("table.listing a[href='/c/housing/']", "select option")),
    "communities-none": Case(
        None, "/communities?q=zzzz&category=Housing&sort=size", must_show=("main a[href='/communities']",)
    ),
    "community-request": Case(ALICE, "/communities/request", must_show=("fieldset input[type=radio]",)),
    "community-request-error": Case(
        ALICE, "/communities/request", 400, submit="Send the request", must_show=(".error-summary",)
    ),
    "admin": Case(ERIN, "/admin/", must_show=("a[href='/admin/requests']",)),
    "admin-requests": Case(ERIN, "/admin/requests", must_show=("article.post textarea",)),
    "admin-communities": Case(
        ERIN, "/admin/communities", must_show=("table.listing a[href='/admin/communities/casework']",)
    ),
    "admin-community": Case(ERIN, "/admin/communities/planning", must_show=("fieldset input[type=radio]",)),
    "admin-delete": Case(ERIN, "/admin/communities/planning/delete", must_show=("input#confirm",)),
    "admin-held": Case(ERIN, "/admin/held", must_show=("table.listing a[href='/c/planning/manage/held']",)),
    "admin-bounces": Case(ERIN, "/admin/bounces"),
    "community": Case(ALICE, "/c/housing/", must_show=("table.threads tbody tr",)),
    "thread": Case(ALICE, "{gps_thread}", must_show=("details.quoted", ".attachments a")),
    "search-results": Case(None, "/search?q=GPS", must_show=("ol.results li mark",)),
    "search-bad-date": Case(None, "/search?q=GPS&from=31%2F12%2F2026", must_show=("#search-from[aria-invalid=true]",)),
    "sign-in": Case(None, "/signin"),
    "community-visitor": Case(None, "/c/housing/", must_show=("form[action='/c/housing/join'] input[type=radio]",)),
    "join-error": Case(None, "/c/housing/join", 400, submit="Join Housing Advice", must_show=(".error-summary",)),
    "sign-in-error": Case(None, "/signin", 400, submit="Email me a sign-in link", must_show=(".error-summary",)),
    "profile": Case(ALICE, "/account", must_show=("table.listing",)),
    "new-thread": Case(ALICE, "/c/housing/new"),
    "new-thread-error": Case(ALICE, "/c/housing/new", 400, submit="Post", must_show=(".error-summary",)),
    "new-thread-preview": Case(
        ALICE,
        "/c/housing/new",
        submit="Preview",
        fill=(("#subject", "Survey kit"), ("#body", PREVIEWED)),
        must_show=("section.preview strong", "details.plain-text pre", "details.formatting-help table"),
    ),
    "reply": Case(ALICE, "{gps_thread}/reply", must_show=(".quoted-post", "input[type=file]")),
    "reply-preview": Case(
        ALICE,
        "{gps_thread}/reply",
        submit="Preview",
        fill=(("#body", PREVIEWED),),
        must_show=("section.preview blockquote", ".quoted-post"),
    ),
    "membership": Case(ALICE, "/c/housing/membership", must_show=("select",)),
    "manage-members": Case(ALICE, "/c/housing/manage/members", must_show=("table.listing select",)),
    "manage-members-found": Case(
        ALICE,
        "/c/housing/manage/members?q=bob&role=member&bounce=ok",
        must_show=("td.address wbr", "form[role=search]"),
    ),
    "manage-links": Case(ALICE, "/c/planning/", must_show=("a.manage-link", ".badge")),
    "manage-held": Case(ALICE, "/c/planning/manage/held", must_show=("article.post textarea",)),
    "manage-settings": Case(ALICE, "/c/housing/manage/settings", must_show=("fieldset input[type=radio]",)),
    "edit-post": Case(BOB, "/c/housing/p/{damp_post}/edit", must_show=("textarea",)),
    "edit-post-error": Case(
        BOB,
        "/c/housing/p/{damp_post}/edit",
        400,
        fill=(("textarea", ""),),
        submit="Save the change",
        must_show=(".error-summary",),
    ),
    "delete-post": Case(BOB, "/c/housing/p/{damp_post}/delete", must_show=("blockquote",)),
    "report-post": Case(BOB, "/c/housing/p/{gps_post}/report", must_show=("textarea",)),
    "report-post-error": Case(
        BOB, "/c/housing/p/{gps_post}/report", 400, submit="Send the report", must_show=(".error-summary",)
    ),
    "hide-post": Case(ALICE, "/c/housing/p/{gps_post}/hide", must_show=("blockquote", "textarea")),
    "hide-thread": Case(ALICE, "{gps_thread}/hide", must_show=("textarea",)),
    "manage-reports": Case(ALICE, "/c/housing/manage/reports"),
    "manage-log": Case(ALICE, "/c/housing/manage/log"),
    "ban-member": Case(ALICE, "/c/housing/manage/members/{bob_id}/ban", must_show=("textarea",)),
    "restricted-community": Case(None, "/c/lounge/", must_show=("form[action='/c/lounge/request'] textarea",)),
    "join-request-error": Case(None, "/c/lounge/request", 400, submit="Send my request", must_show=(".error-summary",)),
    "invitation": Case(None, f"/invite/{SEEDED_INVITATION}", must_show=("main form button",)),
    "manage-requests": Case(ALICE, "/c/lounge/manage/requests", must_show=("article.post textarea",)),
    "manage-invitations": Case(ALICE, "/c/lounge/manage/invitations", must_show=("input[type=file]", "table.listing")),
    "people": Case(ALICE, "/people?q=GPS", must_show=("ol.results li .why",)),
    "person": Case(ALICE, "/people/2", must_show=("dl.facts dd",)),  # Bob, the seed's second person
    "people-edit": Case(ALICE, "/account/public-profile", must_show=("fieldset input[type=radio]",)),
    "not-found": Case(None, "/c/casework/", 404),
    "accessibility": Case(None, "/accessibility", must_show=("footer a[href='/accessibility']",)),
}
# What the English cases press, and the skip link, as the Welsh pages name them.
WELSH_NAMES = {
    "Email me a sign-in link": "Anfon dolen fewngofnodi ataf",
    "Post": "Postio",
    "Preview": "Rhagolwg",
    "Send the request": "Anfon y cais",
    "Save the change": "Cadw’r newid",
    "Send the report": "Anfon yr adroddiad",
    "Send my request": "Anfon fy nghais",
    "Join Housing Advice": "Ymuno â Housing Advice",
    "Skip to main content": "Neidio i'r prif gynnwys",
}
HTML_LANG = {"en": "en-GB", "cy": "cy"}
CASES = {
    **ENGLISH,
    **{
        f"{name}-cy": replace(case, lang="cy", submit=WELSH_NAMES.get(case.submit, case.submit))
        for name, case in ENGLISH.items()
    },
}


VIEWPORT: ViewportSize = {"width": 1280, "height": 720}


@pytest.fixture(scope="module")
def tab(browser: Any, world: World) -> Iterator[Callable[[str | None, str], Page]]:
    """``tab(who, lang)``: one page per person (or visitor) and language for the module, reused
    by its tests: each test opens its own document in it, and a page costs more than a document."""
    pages: dict[tuple[str | None, str], Page] = {}

    def page_for(who: str | None, lang: str = "en") -> Page:
        if (who, lang) not in pages:
            context = browser_context(browser, world, who, viewport=VIEWPORT, locale=HTML_LANG[lang])
            pages[(who, lang)] = context.new_page()
        return pages[(who, lang)]

    yield page_for
    for page in pages.values():
        page.context.close()


def open_case(tab: Callable[[str | None, str], Page], world: World, name: str) -> Page:
    case = CASES[name]
    page = tab(case.who, case.lang)
    page.set_viewport_size(VIEWPORT)
    response = page.goto(
        case.path.format(
            gps_thread=world.gps_thread, gps_post=world.gps_post, damp_post=world.damp_post, bob_id=world.bob_id
        )
    )
    for selector, text in case.fill:
        page.locator(selector).fill(text)
    if case.submit:
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name=case.submit, exact=True).click()
        response = navigation.value
    assert response is not None and response.status == case.status, (
        f"{name}: {page.url} answered {response and response.status}, not {case.status}"
    )
    for selector in case.must_show:
        assert page.locator(selector).count(), f"{name}: nothing matches {selector!r} on {page.url}"
    assert page.locator("html").get_attribute("lang") == HTML_LANG[case.lang], f"{name}: not in {case.lang}"
    return page


@pytest.fixture(scope="module")
def axe() -> Any:
    return Axe()


@pytest.mark.parametrize("name", CASES)
def test_no_serious_or_critical_axe_violations(
    tab: Callable[[str | None, str], Page], world: World, axe: Any, name: str
) -> None:
    page = open_case(tab, world, name)
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # check the folded text too
    results = axe.run(page, options={"resultTypes": ["violations", "incomplete"]}).response
    blocking = []
    for kind in ("violations", "incomplete"):
        for rule in results[kind]:
            targets = [" ".join(map(str, node["target"])) for node in rule["nodes"]]
            line = f"{rule['id']} ({rule['impact']}): {rule['help']}: {targets[:5]}"
            if kind == "violations" and rule["impact"] in BLOCKING:
                blocking.append(line)
            else:  # minor and moderate findings, and what axe could not decide: for information
                print(f"axe {kind[:-1] if kind == 'violations' else 'needs review'} on {name}: {line}")
    assert not blocking, f"axe-core {results['testEngine']['version']} on {name} ({page.url}):\n" + "\n".join(blocking)


@pytest.mark.parametrize("name", CASES)
def test_skip_link_is_first_and_moves_focus_to_main(
    tab: Callable[[str | None, str], Page], world: World, name: str
) -> None:
    page = open_case(tab, world, name)
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => { const e = document.activeElement, r = e.getBoundingClientRect();
        return {cls: e.className, text: e.textContent.trim(), left: r.left, top: r.top,
                inView: r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.width > 0}; }""")
    skip = "Skip to main content"
    assert focused["cls"] == "skip-link" and focused["text"] == (WELSH_NAMES[skip] if name.endswith("-cy") else skip), (
        focused
    )
    assert focused["inView"], f"the focused skip link must be seen: {focused}"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)"), (
        "after the skip link, Tab goes on inside main"
    )


CONTROLS = "input:not([type=hidden]), select, textarea, button"


@pytest.mark.parametrize("name", CASES)
def test_every_form_control_has_an_accessible_name(
    tab: Callable[[str | None, str], Page], world: World, name: str
) -> None:
    page = open_case(tab, world, name)
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        controls = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": CONTROLS})["nodeIds"]
        unnamed = []
        for node_id in controls:
            nodes = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node_id, "fetchRelatives": False})["nodes"]
            if nodes and not nodes[0].get("ignored") and not str(nodes[0].get("name", {}).get("value", "")).strip():
                unnamed.append(cdp.send("DOM.getOuterHTML", {"nodeId": node_id})["outerHTML"][:160])
    finally:
        cdp.detach()
    assert controls, "every page has at least the search box"
    assert not unnamed, f"{name}: controls without an accessible name:\n" + "\n".join(unnamed)


WIDTHS = range(320, 1281, 80)  # 320 CSS px: 1280 at 400% zoom (WCAG 1.4.10); 640: at 200% zoom
OVERFLOW = """() => {
    const limit = innerWidth, found = {scrollWidth: document.documentElement.scrollWidth, innerWidth: limit};
    if (found.scrollWidth <= limit) return found;
    const wide = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > limit + 0.5);
    return {...found, widest: wide.slice(-3).map(e => `${e.tagName.toLowerCase()}.${e.className}`)};
}"""


@pytest.mark.parametrize("name", CASES)
def test_no_horizontal_scrolling_when_zoomed(tab: Callable[[str | None, str], Page], world: World, name: str) -> None:
    page = open_case(tab, world, name)
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # folded text too
    overflowing = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 640})
        found = page.evaluate(OVERFLOW)
        if found["scrollWidth"] > found["innerWidth"]:
            overflowing.append(f"{width} px wide: {found}")
    page.evaluate("document.documentElement.style.fontSize = '200%'")  # text alone at 200% (WCAG 1.4.4)
    for width in (640, 1280):
        page.set_viewport_size({"width": width, "height": 640})
        found = page.evaluate(OVERFLOW)
        if found["scrollWidth"] > found["innerWidth"]:
            overflowing.append(f"{width} px wide, text at 200%: {found}")
    assert not overflowing, f"{name} scrolls sideways:\n" + "\n".join(overflowing)


def test_200_percent_zoom_at_device_scale(new_context: Callable[..., Any], world: World) -> None:
    """200% zoom as a browser does it (two device pixels per CSS pixel), not only a narrow window."""
    page = new_context(as_=ALICE, viewport={"width": 640, "height": 400}, device_scale_factor=2).new_page()
    page.goto(world.gps_thread)
    assert page.evaluate("devicePixelRatio") == 2
    found = page.evaluate(OVERFLOW)
    assert found["scrollWidth"] <= found["innerWidth"], found
    expect(page.get_by_role("button", name="Post reply")).to_be_visible()


def test_sign_in_read_search_and_post_without_javascript(new_context: Callable[..., Any], world: World) -> None:
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(world, page, DAVE)  # the form, the emailed link and the confirmation button, all without script
    assert page.evaluate("document.scripts.length") == 0, "the pages use no script at all"

    page.get_by_role("link", name="Housing Advice").click()
    page.get_by_role("link", name="Which GPS for field surveys?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Which GPS for field surveys?")
    expect(page.get_by_text(GPS_QUESTION).first).to_be_visible()
    folded = page.locator("details.quoted").first
    expect(folded.locator("pre")).to_be_hidden()
    folded.get_by_text("Show quoted text").click()
    expect(folded.locator("pre")).to_be_visible()

    page.get_by_role("search").first.get_by_label("Search posts").fill("Trimble")
    page.get_by_role("search").first.get_by_role("button", name="Search").click()
    expect(page.locator("ol.results")).to_contain_text("Which GPS for field surveys?")

    page.goto(world.gps_thread)
    page.get_by_label("Your reply").fill("We use the same unit; no script needed to say so.")
    page.get_by_role("button", name="Post reply").click()
    expect(page.get_by_role("status").first).to_have_text("Your message is posted.")
    expect(page.locator("article.post").last).to_contain_text("no script needed to say so")

    page.goto("/c/housing/")
    page.get_by_role("link", name="Start a new thread").click()
    page.get_by_label("Subject").fill("Survey kit loan scheme")
    page.get_by_label("Message").fill("Could councils lend each other survey kit?")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Survey kit loan scheme")


def test_preview_and_post_with_a_file_and_reply_to_a_post_without_javascript(
    new_context: Callable[..., Any], world: World
) -> None:
    """The file chosen before a preview is still attached after it, ticked, and goes with
    the post; a post's own Reply link answers that post."""
    page = new_context(as_=ALICE, java_script_enabled=False).new_page()
    page.goto("/c/housing/new")
    page.get_by_label("Subject").fill("Survey kit list")
    page.get_by_label("Message").fill("The kit we have: **two** GPS units.")
    page.get_by_label("Attach files").set_input_files(
        [{"name": "kit list.csv", "mimeType": "text/csv", "buffer": b"item,count\nGPS,2\n"}]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("section.preview strong")).to_have_text("two")
    kept = page.get_by_role("checkbox", name="kit list.csv")
    expect(kept).to_be_checked()
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Survey kit list")
    expect(page.locator(".attachments a")).to_have_text("kit list.csv")
    assert page.request.get(page.locator(".attachments a").get_attribute("href") or "").body() == b"item,count\nGPS,2\n"

    first = page.locator("article.post").first
    first.get_by_role("link", name="Reply").click()
    expect(page.locator(".quoted-post")).to_contain_text("two GPS units")
    page.get_by_label("Your reply").fill("And a tripod.")
    page.get_by_role("button", name="Post reply").click()
    expect(page.locator("article.post").last).to_contain_text("And a tripod.")
