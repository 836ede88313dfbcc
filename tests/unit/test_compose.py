"""Personal copies of a post: exactly the right headers and bodies for each member, whether
rendered the fast way (a template per post, spliced per member) or the slow way."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, MIMEPart
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import config, private_replies, tokens
from forum.posting import Draft, submit_post
from forum.site import Site
from mailgateway.addresses import read_reply_token, reply_address
from mailgateway.outgoing import compose, notices, post_views
from mailgateway.outgoing.post_views import AttachmentInfo, CommunityInfo, PostView
from tests.support import make_community, make_member

DOMAIN = "lists.example.org"
BASE = "https://forum.example.org"
HOUSING = CommunityInfo(id=3, slug="housing", name="Housing Advice", subject_prefix="[Housing]")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site.from_settings(
        config.from_dict(
            {
                "site": {
                    "name": "Council Forums",
                    "mail_domain": DOMAIN,
                    "secret_key": "unit-test-secret-0123456789",
                    "base_url": BASE + "/",
                },
                "storage": {"path": str(tmp_path / "storage")},
                "delivery": {"attach_max_bytes": 1000},
            }
        )
    )


def view(**changes: object) -> PostView:
    values: dict[str, Any] = dict(
        id=34,
        community=HOUSING,
        thread_id=12,
        author_name="Alice Example",
        author_email="alice@council.example",
        author_id=5,
        message_id="q2@council.example",
        subject="Re: Which GPS for field surveys?",
        created_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        text="We use a Trimble R2.\n\nIt = good.",
        html="<p>We use a Trimble R2.</p><p>It = good.</p>",
        in_reply_to="q1@council.example",
        references=("q0@council.example", "q1@council.example"),
    )
    values.update(changes)
    return PostView(**values)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def fast(v: PostView, site: Site, user_id: int) -> EmailMessage:
    return parse(compose.personalize(compose.build_template(v, site), site, user_id))


def content(part: MIMEPart | None) -> str:
    assert part is not None
    return part.get_content().replace("\r\n", "\n")  # the parser keeps the wire's CRLF


def texts(msg: EmailMessage) -> tuple[str, str]:
    return content(msg.get_body(("plain",))), content(msg.get_body(("html",)))


def decoded(raw_header: str | None) -> str:
    """A header decoded as RFC 2047 says: CPython's address parser wrongly keeps the space
    between two adjacent encoded words ("Kö ln"), which mail clients drop."""
    assert raw_header is not None
    return str(make_header(decode_header(raw_header)))


def test_a_copy_carries_exactly_the_list_headers(site: Site) -> None:
    msg = fast(view(), site, 7)
    unsubscribe = site.signer.make(tokens.UNSUBSCRIBE, 7, 3)
    assert {k: str(v) for k, v in msg.items()} == {
        "Message-ID": "<q2@council.example>",
        "In-Reply-To": "<q1@council.example>",
        "References": "<q0@council.example> <q1@council.example>",
        "Date": "Sat, 28 Nov 2026 09:30:00 +0000",
        "From": f"Alice Example via Housing Advice <housing@{DOMAIN}>",
        "To": f"Housing Advice <housing@{DOMAIN}>",
        "Reply-To": f"Housing Advice <{reply_address(site.signer, 'housing', DOMAIN, 7, 34)}>",
        "Subject": "[Housing] Re: Which GPS for field surveys?",
        "List-Id": f"Housing Advice <housing.{DOMAIN}>",
        "List-Post": f"<mailto:housing@{DOMAIN}>",
        "List-Archive": f"<{BASE}/c/housing/>",
        "List-Help": f"<mailto:housing-request@{DOMAIN}?subject=help>",
        "List-Owner": f"<mailto:housing-owner@{DOMAIN}>",
        "List-Subscribe": f"<{BASE}/c/housing/>, <mailto:housing-subscribe@{DOMAIN}>",
        "List-Unsubscribe": f"<{BASE}/unsubscribe/{unsubscribe}>, <mailto:housing-unsubscribe@{DOMAIN}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Precedence": "list",
        "Archived-At": f"<{BASE}/c/housing/t/12#post-34>",
        "MIME-Version": "1.0",
        "Content-Type": msg["Content-Type"],
    }
    assert msg.get_content_type() == "multipart/alternative"
    assert "Auto-Submitted" not in msg
    # ASCII posts travel as they are; others as quoted-printable (never base64: footers are spliced)
    assert [p["Content-Transfer-Encoding"] for p in msg.iter_parts()] == ["7bit", "7bit"]
    accented = fast(view(text="Crème brûlée"), site, 7)
    assert [p["Content-Transfer-Encoding"] for p in accented.iter_parts()] == ["quoted-printable", "7bit"]


def test_the_bodies_carry_the_post_and_a_footer_with_the_members_links(site: Site) -> None:
    text, html = texts(fast(view(), site, 7))
    unsubscribe = f"{BASE}/unsubscribe/{site.signer.make(tokens.UNSUBSCRIBE, 7, 3)}"
    relay = private_replies.post_address(site.signer, "housing", DOMAIN, 34)
    assert text == (
        "We use a Trimble R2.\n\nIt = good.\n\n-- \n"
        f"View on the web: {BASE}/c/housing/t/12#post-34\n"
        f"Reply privately to Alice Example: {relay}\n"
        f"Change your delivery: {BASE}/c/housing/membership\n"
        f"Leave Housing Advice: {unsubscribe}\n"
    )
    assert "<p>We use a Trimble R2.</p><p>It = good.</p>" in html
    assert f'<a href="{unsubscribe}" style="color:#666666;">Leave Housing Advice</a>' in html
    assert f'href="{BASE}/c/housing/t/12#post-34"' in html and f'href="{BASE}/c/housing/membership"' in html
    assert f'href="mailto:{relay}?subject=Re%3A%20Which%20GPS%20for%20field%20surveys%3F"' in html
    assert "<style" not in html and "<script" not in html


def test_the_footer_is_in_the_members_language_and_a_bilingual_communitys_in_both(site: Site) -> None:
    unsubscribe = f"{BASE}/dad-danysgrifio/{site.signer.make(tokens.UNSUBSCRIBE, 7, 3)}?lang=cy"
    welsh = parse(compose.personalize(compose.build_template(view(), site, "cy"), site, 7))
    text, html = texts(welsh)
    assert f"\nGweld ar y we: {BASE}/c/housing/t/12/34?lang=cy\n" in text, "the page in Welsh, its path no English"
    assert f"\nNewid eich dull danfon: {BASE}/c/housing/aelodaeth?lang=cy\n" in text
    relay = private_replies.post_address(site.signer, "housing", DOMAIN, 34, "cy")
    assert f"\nAteb Alice Example yn breifat: {relay}\n" in text and relay.startswith("housing-preifat+")
    assert private_replies.read_token(site.signer, relay.split("+")[1].split("@")[0]).post_id == 34
    assert f"\nGadael Housing Advice: {unsubscribe}\n" in text
    assert f'<a href="{unsubscribe}" style="color:#666666;">Gadael Housing Advice</a>' in html
    assert texts(welsh) == texts(parse(compose.compose_copy(view(), site, 7, "cy"))), "as the reference writes it"
    bilingual = view(community=replace(HOUSING, language="bilingual"), author_name="")
    text = texts(fast(bilingual, site, 7))[0]
    assert "\nGweld ar y we / View on the web: " in text
    assert "\nAteb Rhywun yn breifat / Reply privately to Someone: housing-private+" in text, "each sentence whole"
    assert "\nGweld ar y we: " in texts(parse(compose.compose_copy(bilingual, site, 7, "cy")))[0], "their choice wins"


def test_an_authors_address_is_shown_only_if_they_chose_so(site: Site) -> None:
    hidden = fast(view(author_name="alice@council.example"), site, 7)
    assert b"alice" not in hidden.as_bytes(), "neither the footer nor the From shows the address"
    relay = private_replies.read_token(site.signer, texts(hidden)[0].split("housing-private+")[1].split("@")[0])
    assert relay.post_id == 34
    shown = texts(fast(view(author_shows_address=True), site, 7))[0]
    assert "Reply privately to Alice Example: alice@council.example\n" in shown
    assert "Reply privately" not in texts(fast(view(author_id=None), site, 7))[0], "no member to write to"


def test_two_members_differ_only_in_their_own_tokens(site: Site) -> None:
    template = compose.build_template(view(), site)
    bob, carol = (parse(compose.personalize(template, site, uid)) for uid in (7, 8))
    bob_token = bob["Reply-To"].addresses[0].username.split("+")[1]
    carol_token = carol["Reply-To"].addresses[0].username.split("+")[1]
    assert read_reply_token(site.signer, bob_token) == (7, 34)
    assert read_reply_token(site.signer, carol_token) == (8, 34)
    for msg, uid in ((bob, 7), (carol, 8)):
        token = str(msg["List-Unsubscribe"]).split("/unsubscribe/")[1].split(">")[0]
        assert site.signer.verify(tokens.UNSUBSCRIBE, token, count=2) == (uid, 3)
        assert all(f"/unsubscribe/{token}" in body for body in texts(msg))
    differing = {k for k in bob if str(bob[k]) != str(carol[k])}
    assert differing == {"Reply-To", "List-Unsubscribe"}
    assert texts(bob)[0].replace(bob_unsub := _unsub(bob), "X") == texts(carol)[0].replace(_unsub(carol), "X")
    assert bob_unsub != _unsub(carol)


def _unsub(msg: EmailMessage) -> str:
    return str(msg["List-Unsubscribe"]).split("<")[1].split(">")[0]


LONG_ID = "CAFx" + "a" * 90 + "@mail.gmail.com"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="plain"),
        pytest.param(
            {
                "author_name": "Jürgen Müller-Lüdenscheidt",
                "subject": "Grüße aus Köln — 北京 " * 4,
                "community": CommunityInfo(5, "wohnen", "Wohnen & Bauen – Köln", "[Wohnen]"),
                "text": "Schöne Grüße\n" + "ä" * 300,
                "html": "<p>Schöne Grüße " + "€" * 200 + "</p>",
            },
            id="non-ascii",
        ),
        pytest.param(
            {
                "text": "x" * 2000 + "\n.\n.leading dot\nFrom me\n   \ntrailing space   ",
                "in_reply_to": LONG_ID,
                "references": tuple(f"{i}.{LONG_ID}" for i in range(20)),
            },
            id="long-lines-and-ids",
        ),
        pytest.param(
            {"author_name": "", "author_email": "", "subject": "Hello\r\nBcc: victim@example.org"},
            id="no-author-and-injected-newline",
        ),
    ],
)
def test_a_spliced_copy_equals_a_copy_rendered_from_scratch(site: Site, changes: dict[str, object]) -> None:
    v = view(**changes)
    raw = compose.personalize(compose.build_template(v, site), site, 4242)
    assert raw.isascii(), "no relay on the way may need 8BITMIME"
    assert raw.count(b"\n") == raw.count(b"\r\n") and b"\r\r" not in raw, "CRLF line endings throughout"
    spliced, fresh = parse(raw), parse(compose.compose_copy(v, site, 4242))
    assert [(k, str(val)) for k, val in spliced.items() if k != "Content-Type"] == [
        (k, str(val)) for k, val in fresh.items() if k != "Content-Type"
    ]
    assert texts(spliced) == texts(fresh)
    assert not spliced.defects and all(not part.defects for part in spliced.walk())


def test_non_ascii_names_and_subjects_are_encoded_and_read_back_intact(site: Site) -> None:
    community = CommunityInfo(5, "wohnen", "Wohnen & Bauen – Köln", "")
    raw = compose.personalize(
        compose.build_template(view(author_name="Jürgen Müller", subject="Grüße aus Köln", community=community), site),
        site,
        7,
    )
    head = raw.split(b"\r\n\r\n")[0]
    assert head.isascii() and all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert (
        decoded(email.message_from_bytes(raw)["From"]) == f"Jürgen Müller via Wohnen & Bauen – Köln <wohnen@{DOMAIN}>"
    )
    msg = parse(raw)
    assert msg["Subject"] == "Grüße aus Köln"
    assert msg["List-Id"] == f"Wohnen & Bauen – Köln <wohnen.{DOMAIN}>"


def test_long_message_ids_go_out_verbatim_so_threads_hold(site: Site) -> None:
    refs = tuple(f"{i}.{LONG_ID}" for i in range(3))
    raw = compose.personalize(compose.build_template(view(in_reply_to=refs[-1], references=refs), site), site, 7)
    assert f"In-Reply-To: <{refs[-1]}>\r\n".encode() in raw
    assert ("References: " + "\r\n ".join(f"<{r}>" for r in refs) + "\r\n").encode() in raw
    assert b"=?" not in raw.split(b"\r\n\r\n")[0]


def test_the_subject_prefix_is_added_once(site: Site) -> None:
    assert compose.list_subject("[Housing]", "Boilers") == "[Housing] Boilers"
    assert compose.list_subject("[Housing]", "Re: [housing] Boilers") == "Re: [housing] Boilers"
    assert compose.list_subject("", "Boilers") == "Boilers"


def test_small_files_travel_with_the_mail_and_large_ones_are_linked(site: Site) -> None:
    png, pdf, big = b"\x89PNG fake image", b"%PDF-1.4 fake", b"z" * 5000
    attachments = (
        AttachmentInfo(1, "map.png", "image/png", len(png), site.blobs.put(png), inline=True, content_id="map@x"),
        AttachmentInfo(2, "Übersicht.pdf", "application/pdf", len(pdf), site.blobs.put(pdf)),
        AttachmentInfo(3, "survey data.zip", "application/zip", len(big), site.blobs.put(big)),
    )
    msg = fast(view(attachments=attachments, html='<p>See <img src="cid:map@x"></p>'), site, 7)
    assert msg.get_content_type() == "multipart/mixed"
    related = msg.get_body(("related",))
    assert related is not None and related.get_content_type() == "multipart/related"
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    assert (image["Content-ID"], image.get_content()) == ("<map@x>", png)
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert files == {"Übersicht.pdf": pdf}
    text, html = texts(msg)
    assert f"survey data.zip (4.9 KB): {BASE}/a/3/survey%20data.zip" in text
    assert f'href="{BASE}/a/3/survey%20data.zip"' in html


def test_attached_messages_travel_in_crlf_lines_a_relay_accepts(site: Site) -> None:
    """A forwarded message travels as a message; one that cannot (a line past SMTP's
    limit) and a delivery report travel as files with their bytes unchanged."""
    forwarded = (
        "From: Dai Rees <dai@landlord.example>\nSubject: Tŷ 4\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\nWorks start on Monday – ŵ.\n"
    )
    unwrapped = b"From: dai@landlord.example\nSubject: One long line\n\n" + b"x" * 1200 + b"\n"
    report = b"Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; bob@example.org\nAction: failed\n"
    data = [forwarded.encode(), unwrapped, report]
    attachments = tuple(
        AttachmentInfo(i, name, kind, 10, site.blobs.put(d))
        for i, (name, kind, d) in enumerate(
            zip(
                ("fw.eml", "long.eml", "report.txt"),
                ("message/rfc822", "message/rfc822", "message/delivery-status"),
                data,
                strict=True,
            )
        )
    )
    raw = compose.personalize(compose.build_template(view(attachments=attachments), site), site, 7)
    assert raw.isascii() and raw.count(b"\n") == raw.count(b"\r\n")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parts = list(parse(raw).iter_attachments())
    assert [p.get_content_type() for p in parts] == ["message/rfc822", *["application/octet-stream"] * 2]
    inner = parts[0].get_content()
    assert (inner["Subject"], inner.get_content()) == ("Tŷ 4", "Works start on Monday – ŵ.\n")
    assert [p.get_content() for p in parts[1:]] == data[1:]
    assert [p.get_filename() for p in parts] == ["fw.eml", "long.eml", "report.txt"]


def test_notices_come_from_the_site_or_the_community_owner(site: Site) -> None:
    plain = parse(
        notices.compose_notice(
            site, "bob@council.example", {"subject": "Your login link", "text": "Hi"}, message_id=f"n1@{DOMAIN}"
        )
    )
    assert str(plain["From"]) == f"Council Forums <noreply@{DOMAIN}>"
    assert (plain["To"], plain["Message-ID"], plain["Auto-Submitted"]) == (
        "bob@council.example",
        f"<n1@{DOMAIN}>",
        "auto-generated",
    )
    assert "List-Id" not in plain and content(plain) == "Hi\n"

    raw = notices.compose_notice(
        site,
        "bob@council.example",
        {"subject": "Housing digest", "text": "3 posts — Grüße", "html": "<p>3 posts</p>"},
        message_id=f"n2@{DOMAIN}",
        community=HOUSING,
        user_id=7,
    )
    assert raw.isascii()
    digest = parse(raw)
    assert str(digest["From"]) == f"Housing Advice <housing-owner@{DOMAIN}>"
    assert digest["List-Id"] == f"Housing Advice <housing.{DOMAIN}>"
    assert site.signer.make(tokens.UNSUBSCRIBE, 7, 3) in digest["List-Unsubscribe"]
    assert texts(digest) == ("3 posts — Grüße\n", "<p>3 posts</p>\n")

    answer = parse(
        notices.compose_notice(
            site,
            "eve@elsewhere.example",
            {"subject": "Not delivered", "text": "…", "in_reply_to": "m1@x"},
            message_id=f"n3@{DOMAIN}",
        )
    )
    assert (answer["Auto-Submitted"], answer["In-Reply-To"], answer["References"]) == (
        "auto-replied",
        "<m1@x>",
        "<m1@x>",
    )


def test_references_name_the_thread_root_and_the_nearest_ancestors(
    sessionmaker: SessionMaker[Session], site: Site
) -> None:
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        make_member(session, community, "alice@council.example")
        parent_id: int | None = None
        for i in range(25):
            parent_id = submit_post(
                session,
                Draft(
                    community="housing",
                    author_email="alice@council.example",
                    subject="Deep",
                    body=f"reply {i}",
                    message_id=f"m{i}@council.example",
                    parent_id=parent_id,
                ),
                site,
            ).post.id
        assert parent_id is not None
        loaded = post_views.load_post(session, parent_id)
        root = post_views.load_post(session, parent_id - 24)
    assert loaded.in_reply_to == "m23@council.example"
    assert loaded.references == ("m0@council.example", *(f"m{i}@council.example" for i in range(5, 24)))
    assert (root.in_reply_to, root.references) == (None, ())


@pytest.mark.parametrize("with_files", [False, True], ids=["text-only", "with-files"])
def test_a_plain_text_members_copy_is_its_text_alone(site: Site, with_files: bool) -> None:
    """No text/html part at all; pictures and files still come, as attachments; the spliced
    copy is the one the reference writes."""
    png, pdf = b"\x89PNG fake image", b"%PDF-1.4 fake"
    attachments = (
        AttachmentInfo(1, "map.png", "image/png", len(png), site.blobs.put(png), inline=True, content_id="map@x"),
        AttachmentInfo(2, "plan.pdf", "application/pdf", len(pdf), site.blobs.put(pdf)),
    )
    v = view(attachments=attachments if with_files else (), html='<p>See <img src="cid:map@x"></p>')
    raw = compose.personalize(compose.build_template(v, site, plain_text=True), site, 7)
    msg = parse(raw)
    assert [p.get_content_type() for p in msg.walk() if p.get_content_maintype() == "text"] == ["text/plain"]
    assert msg.get_content_type() == ("multipart/mixed" if with_files else "text/plain")
    text = content(msg.get_body(("plain",)))
    assert text.startswith("We use a Trimble R2.") and f"{BASE}/unsubscribe/" in text
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert files == ({"map.png": png, "plan.pdf": pdf} if with_files else {})
    fresh = parse(compose.compose_copy(v, site, 7, plain_text=True))
    assert content(fresh.get_body(("plain",))) == text and not msg.defects
    assert msg["MIME-Version"] == "1.0" and raw.isascii()


@pytest.mark.parametrize(
    ("member", "community", "shown"),
    [
        (None, "en", "Alice Example via Housing Advice"),
        ("cy", "en", "Alice Example drwy Housing Advice"),
        (None, "cy", "Alice Example drwy Housing Advice"),
        (None, "bilingual", "Alice Example drwy/via Housing Advice"),
        ("en", "bilingual", "Alice Example via Housing Advice"),
    ],
)
def test_the_from_name_is_in_the_members_language(site: Site, member: str | None, community: str, shown: str) -> None:
    v = view(community=replace(HOUSING, language=community))
    msg = parse(compose.personalize(compose.build_template(v, site, member), site, 7))
    assert msg["From"].addresses[0].display_name == shown
