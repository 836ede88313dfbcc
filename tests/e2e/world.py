"""The world the end-to-end tests share: people, communities, seeded posts, and helpers to
read what the smarthost received and to sign in as a person does.

Imported by ``tests/e2e/conftest.py`` (the fixtures) and by the test modules.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from forum import site_admins
from forum.access import user_by_email
from forum.db import make_engine, make_sessionmaker
from forum.models import CommunityRequest, Invitation, JoinRequest, Role, User, UserEmail, utcnow
from forum.profiles import profile_of, set_expertise
from tests.integration.served import DOMAIN, Browser, ServedSite, mail
from tests.support import Received, SmtpSink, make_community, make_member

ALICE = "alice@council.example"  # facilitator of housing and planning; not a member of casework
BOB = "bob@council.example"  # takes part by email: member of housing, planning and casework
CAROL = "carol@council.example"  # facilitator of the private casework community
DAVE = "dave@council.example"  # member of housing; signs in with JavaScript turned off
ERIN = "erin@council.example"  # site administrator; a member of no community
NAMES = {ALICE: "Alice Example", BOB: "Bob Example", CAROL: "Carol Example", DAVE: "Dave Example", ERIN: "Erin Example"}

GPS_QUESTION = "Has anyone bought a GPS unit for housing condition surveys? Which one would you recommend?"
DAMP_QUESTION = "What do you tell tenants about damp and mould while repairs are waited for?"
PRIVATE_WORD = "quillfeather"  # in the private thread only: searching for it must find nothing for outsiders
PRIVATE_SUBJECT = f"Eviction case 2291 ({PRIVATE_WORD})"
# An invitation to the restricted lounge, seeded with a known link for the accessibility checks.
SEEDED_INVITATION = "e2e-seeded-invitation-token"


# Mail -------------------------------------------------------------------------------------


def wait_mail(sink: SmtpSink, match: Callable[[Received], bool], *, after: int = 0, timeout: float = 15.0) -> Received:
    """The first message from index ``after`` on that ``match`` accepts, waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        for received in list(sink.messages[after:]):
            if match(received):
                return received
        if time.monotonic() > deadline:
            seen = [(m.rcpt_tos, m.message.get("Subject")) for m in sink.messages[after:]]
            raise AssertionError(f"no matching mail at the smarthost within {timeout:.0f} s; got {seen}")
        time.sleep(0.05)


def to(address: str, subject_part: str = "") -> Callable[[Received], bool]:
    return lambda m: address in m.rcpt_tos and subject_part in str(m.message.get("Subject", ""))


def text_of(received: Received) -> str:
    return received.message.get_body(("plain",)).get_content()


def archived_at(received: Received) -> str:
    """The permalink a copy carries (``Archived-At: <URL>``), as a path on the site."""
    url = str(received.message["Archived-At"]).strip("<> ")
    return re.sub(r"^https?://[^/]+", "", url)


def outlook_reply(
    sender: str, to_address: str, subject: str, reply: str, original: Received, quoted: str, message_id: str
) -> bytes:
    """A reply as Outlook writes it to the copy ``original``: new text on top, then the
    original's headers and ``quoted`` (its text) below a separator."""
    quoted_from, quoted_to = str(original.message["From"]), str(original.message["To"])
    body = (
        f"{reply}\r\n\r\n{NAMES[sender].split()[0]}\r\n\r\n-----Original Message-----\r\n"
        f"From: {quoted_from}\r\nSent: 28 November 2026 09:00\r\nTo: {quoted_to}\r\n"
        f"Subject: {subject}\r\n\r\n{quoted}\r\n"
    )
    return mail(
        f"{NAMES[sender]} <{sender}>",
        to_address,
        f"RE: {subject}",
        body,
        message_id,
        "Thread-Index: AdmZ3bYAAAAAAAAAAAAAAAAAAAAAAA==\r\n",
    )


def with_attachment(
    sender: str,
    to_address: str,
    subject: str,
    body: str,
    message_id: str,
    filename: str,
    content_type: str,
    data: bytes,
) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"{NAMES[sender]} <{sender}>"
    msg["To"] = to_address
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    msg["Date"] = "Sat, 28 Nov 2026 09:00:00 +0000"
    msg.set_content(body)
    maintype, subtype = content_type.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


# The site ---------------------------------------------------------------------------------


@dataclass
class World:
    """The served site, its smarthost and what the seed put in it (paths of its threads)."""

    site: ServedSite
    sink: SmtpSink
    base: str
    gps_thread: str = ""  # public, with an attachment and a reply quoting Outlook-style
    damp_thread: str = ""  # public, one post by email: the journey replies to it
    private_thread: str = ""  # casework, private: only its members may find it
    gps_post: str = ""  # the id of Alice's question in the GPS thread
    damp_post: str = ""  # the id of Bob's post in the damp thread (his to edit for a while)
    bob_id: str = ""  # Bob's user id (the facilitators' per-member pages name him by it)
    sessions: dict[str, Any] = field(default_factory=dict)  # address -> Playwright storage state

    def url(self, path: str) -> str:
        return self.base + path

    def send(self, sender: str, rcpt: str, data: bytes) -> None:
        code, text = self.site.send(sender, [rcpt], data)
        assert code == 250, f"{rcpt} refused the mail from {sender}: {code} {text}"


def wait_for_web(site: ServedSite, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", site.web_port), 0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"the web archive did not listen within {timeout:.0f} s:\n{site.log()}") from None
            time.sleep(0.05)


def seed(db_url: str) -> None:
    """Communities and people, written with the core functions the CLI calls.

    In-process rather than one ``listbridge community create`` / ``member add`` process
    each: those take over a second apiece to start, and the run time here has a budget.
    Posts go in by SMTP (below), as members send them.
    """
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as db:
            housing = make_community(db, "housing")
            housing.name, housing.description = "Housing Advice", "Advisers helping tenants and landlords."
            housing.category = "Housing"
            for address, role in ((ALICE, Role.facilitator), (BOB, Role.member), (DAVE, Role.member)):
                make_member(db, housing, address, role=role).user.display_name = NAMES[address]
            db.flush()
            bob = user_by_email(db, BOB)
            assert bob is not None
            profile_of(db, bob.id).organisation = "Ceredigion County Council"
            set_expertise(db, bob.id, ["GPS surveys", "damp and mould"])
            planning = make_community(db, "planning", policy="moderated")
            planning.name = "Planning"
            make_member(db, planning, ALICE, role=Role.facilitator)
            make_member(db, planning, BOB)
            casework = make_community(db, "casework", private=True)
            casework.name = "Casework"
            make_member(db, casework, CAROL, role=Role.facilitator).user.display_name = NAMES[CAROL]
            make_member(db, casework, BOB)
            erin, _ = site_admins.add(db, ERIN)
            erin.display_name = NAMES[ERIN]
            # A request waiting for the site administrators (for their page's checks).
            db.add(
                CommunityRequest(
                    user_id=make_member(db, planning, DAVE).user_id,
                    slug="allotments",
                    name="Allotments",
                    description="Councils' allotment officers.",
                    category="Parks",
                )
            )
            # Restricted: listed, read by members, joined by request. Its facilitator answers
            # requests by reply from a laptop nothing vouches for, so it asks no authentication.
            lounge = make_community(db, "lounge", visibility="restricted")
            lounge.name, lounge.description = "Wardens Lounge", "Sheltered housing wardens compare notes."
            lounge.require_authentication = "never"
            alice = make_member(db, lounge, ALICE, role=Role.facilitator).user
            dave = db.scalars(select(User).join(UserEmail).where(UserEmail.email == DAVE)).one()
            db.add(
                JoinRequest(
                    community_id=lounge.id, user_id=dave.id, email=DAVE, name=NAMES[DAVE], reason="I cover Rhyl."
                )
            )
            db.add(
                Invitation(
                    community_id=lounge.id,
                    email="guest@council.example",
                    token_hash=hashlib.sha256(SEEDED_INVITATION.encode()).hexdigest(),
                    invited_by_id=alice.id,
                    expires_at=utcnow() + timedelta(days=14),
                )
            )
    finally:
        engine.dispose()


def post_seed_mail(w: World) -> None:
    housing, casework, planning = (f"{slug}@{DOMAIN}" for slug in ("housing", "casework", "planning"))
    w.send(
        ALICE,
        housing,
        with_attachment(
            ALICE,
            housing,
            "Which GPS for field surveys?",
            GPS_QUESTION,
            "gps1@council.example",
            "survey-form.pdf",
            "application/pdf",
            b"%PDF-1.4\n% a small survey form\n%%EOF\n",
        ),
    )
    to_bob = wait_mail(w.sink, to(BOB, "Which GPS"))
    w.gps_thread, w.gps_post = archived_at(to_bob).split("#post-")
    bob_reply_to = to_bob.message["Reply-To"].addresses[0].addr_spec
    w.send(
        BOB,
        bob_reply_to,
        outlook_reply(
            BOB,
            bob_reply_to,
            "Which GPS for field surveys?",
            "We bought the Trimble R2 last year: reliable.",
            to_bob,
            GPS_QUESTION,
            "gps2@council.example",
        ),
    )

    w.send(
        BOB,
        housing,
        mail(f"Bob Example <{BOB}>", housing, "Damp and mould advice", DAMP_QUESTION, "damp1@council.example"),
    )
    w.damp_thread, w.damp_post = archived_at(wait_mail(w.sink, to(ALICE, "Damp and mould"))).split("#post-")
    engine = make_engine(w.site.db_url)
    try:
        with make_sessionmaker(engine)() as db:
            bob = user_by_email(db, BOB)
            assert bob is not None
            w.bob_id = str(bob.id)
    finally:
        engine.dispose()

    w.send(
        CAROL,
        casework,
        mail(
            f"Carol Example <{CAROL}>",
            casework,
            PRIVATE_SUBJECT,
            f"Notes on the hearing; code word {PRIVATE_WORD}.",
            "case1@council.example",
        ),
    )
    # Nothing vouches for mail from her laptop, and Casework is private: she confirms it by the link mailed to her.
    asked = text_of(wait_mail(w.sink, to(CAROL, "Did you send this")))
    confirm = re.search(r"https?://\S+/posts/confirm/\S+", asked)
    assert confirm, asked
    assert Browser().press_button(confirm.group(0))[0] == 200
    w.private_thread = archived_at(wait_mail(w.sink, to(BOB, "Eviction case"))).split("#")[0]

    # A member's post to a moderated community waits in the held queue (for the facilitator pages).
    w.send(
        BOB,
        planning,
        mail(
            f"Bob Example <{BOB}>",
            planning,
            "Draft local plan consultation",
            "Should we answer the consultation together?",
            "plan1@council.example",
        ),
    )
    wait_mail(w.sink, to(ALICE, "Draft local plan"))  # the facilitator is told a post is held
    wait_mail(w.sink, lambda m: ALICE in m.rcpt_tos and "Trimble" in text_of(m))  # Bob's reply is archived


def browser_context(browser: Any, world: World, as_: str | None = None, **options: Any) -> Any:
    """A new browser context (own cookies) on the site, signed in as ``as_`` when given: by
    the emailed link the first time, with the cookies that got the next times."""
    if as_ is not None and as_ in world.sessions:
        options["storage_state"] = world.sessions[as_]
    context = browser.new_context(base_url=world.base, **options)
    context.set_default_timeout(10_000)
    if as_ is not None and as_ not in world.sessions:
        sign_in(world, context.new_page(), as_)
    return context


def sign_in(world: World, page: Any, address: str) -> None:
    """Sign in as a person does: ask for a link, open it from the mail, press the button."""
    from playwright.sync_api import expect  # here: the fixtures check first that Playwright is installed

    page.goto("/signin")
    page.get_by_label("Email address").fill(address)
    before = len(world.sink.messages)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    letter = wait_mail(world.sink, to(address, "Sign in to"), after=before)
    link = re.search(r"https?://\S+/signin/\S+", text_of(letter))
    assert link, f"no sign-in link in the mail:\n{text_of(letter)}"
    assert link.group(0).startswith(world.base), "the link must lead to the site's base_url"
    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in as {NAMES[address]}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text(f"You are signed in as {NAMES[address]}")
    world.sessions[address] = page.context.storage_state()
