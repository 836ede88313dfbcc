"""Restricted and private spaces on the web: what outsiders see, asking to join, invitations.

A restricted community shows its name and purpose to anyone, with the form that asks to
join, and nothing else: its threads, feed, downloads, attachments and search hits answer
as a private community's do. A private one is not there at all for outsiders, including
at the doors that join it; an invitation's link is the way in.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker
from werkzeug.test import TestResponse

from forum.access import membership_of, user_by_email
from forum.models import (
    Attachment,
    Invitation,
    JoinRequest,
    OutboxItem,
    Post,
    RequestStatus,
    Role,
    Visibility,
    utcnow,
)
from forum.posting import AttachmentData, Draft, community_by_slug, submit_post
from forum.site import Site
from tests.support import make_community, make_member, through_the_gateway

ANN, BOB, CEM = "ann@example.org", "bob@example.org", "cem@example.org"
SignIn = Callable[[int | None], None]


@pytest.fixture(autouse=True)
def communities(sessionmaker: SessionMaker[Session], site: Site) -> dict[str, str]:
    """lounge (restricted) and board (private): Ann facilitates both, Bob is in neither.
    A post with an attachment in each; the addresses of their pages."""
    urls: dict[str, str] = {}
    with sessionmaker.begin() as session:
        lounge = make_community(session, "lounge", visibility="restricted")
        lounge.description = "Where wardens compare notes."
        board = make_community(session, "board", private=True)
        make_member(session, lounge, ANN, role=Role.facilitator)
        make_member(session, board, ANN, role=Role.facilitator)
        make_member(session, make_community(session, "housing"), BOB)
    for slug in ("lounge", "board"):
        with sessionmaker.begin() as session:
            post = submit_post(
                session,
                Draft(
                    community=slug,
                    author_email=ANN,
                    subject=f"Secret {slug} plans",
                    body="The zebrafish budget.",
                    attachments=(AttachmentData("budget.xlsx", "application/vnd.ms-excel", b"numbers"),),
                ),
                site,
            ).post
            attachment = session.scalar(select(Attachment.id).where(Attachment.post_id == post.id))
            urls |= {
                f"{slug} thread": f"/c/{slug}/t/{post.thread_id}",
                f"{slug} feed": f"/c/{slug}/feed.atom",
                f"{slug} thread mbox": f"/c/{slug}/t/{post.thread_id}.mbox",
                f"{slug} mbox": f"/c/{slug}/archive.mbox",
                f"{slug} attachment": f"/a/{attachment}/budget.xlsx",
            }
    return urls


def uid(sessionmaker: SessionMaker[Session], address: str) -> int:
    with sessionmaker() as session:
        user = user_by_email(session, address)
        assert user is not None
        return user.id


def soup(response: TestResponse) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def mail_to(sessionmaker: SessionMaker[Session], address: str) -> list[OutboxItem]:
    with sessionmaker() as session:
        return list(session.scalars(select(OutboxItem).where(OutboxItem.address == address).order_by(OutboxItem.id)))


def link(item: OutboxItem, path: str) -> str:
    found = re.search(rf"http://[^\s]+({re.escape(path)}[^\s]+)", item.payload["text"])
    assert found, item.payload["text"]
    return found.group(1)


def standing(sessionmaker: SessionMaker[Session], address: str, slug: str) -> tuple[str, str] | None:
    with sessionmaker() as session:
        found = membership_of(session, user_by_email(session, address), community_by_slug(session, slug))
        return (found.status.value, found.delivery.value) if found else None


class TestWhatOutsidersSee:
    @pytest.mark.parametrize("who", ["visitor", "non-member"])
    def test_a_restricted_community_shows_its_name_and_purpose_and_nothing_else(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        sessionmaker: SessionMaker[Session],
        communities: dict[str, str],
        who: str,
    ) -> None:
        sign_in(None if who == "visitor" else uid(sessionmaker, BOB))
        front = client.get("/c/lounge/")
        assert front.status_code == 200
        html = soup(front)
        assert html.h1.text == "Lounge" and "Where wardens compare notes." in front.text
        assert "Secret lounge plans" not in front.text and "feed.atom" not in front.text
        form = html.find("form", action="/c/lounge/request")
        assert form is not None and form.find("textarea", attrs={"name": "reason"}) is not None
        assert (form.find("input", attrs={"name": "email"}) is not None) is (who == "visitor")
        nothing = client.get("/c/no-such-place/feed.atom")
        for what, url in communities.items():
            hidden = client.get(url)
            assert hidden.status_code == 404, what
            assert "zebrafish" not in hidden.text and "Secret" not in hidden.text, what
            assert soup(hidden).main == soup(nothing).main, what
        for query in ("/search?q=zebrafish", "/search?q=zebrafish&community=lounge"):
            assert "Secret" not in client.get(query).text
        listed = client.get("/communities").text
        assert "Lounge" in listed and "Board" not in listed

    def test_members_read_a_restricted_community_as_any_other(
        self, client: FlaskClient, sign_in: SignIn, sessionmaker: SessionMaker[Session], communities: dict[str, str]
    ) -> None:
        sign_in(uid(sessionmaker, ANN))
        assert "Secret lounge plans" in client.get("/c/lounge/").text
        for what, url in communities.items():
            assert client.get(url).status_code == 200, what
        assert "Secret lounge plans" in client.get("/search?q=zebrafish").text

    @pytest.mark.parametrize("path", ["/c/board/", "/c/board/request"])
    def test_a_private_community_is_not_there_even_to_ask(
        self, client: FlaskClient, sign_in: SignIn, sessionmaker: SessionMaker[Session], path: str
    ) -> None:
        sign_in(uid(sessionmaker, BOB))
        hidden, nothing = client.get(path), client.get(path.replace("board", "no-such-place"))
        assert hidden.status_code == nothing.status_code == 404
        assert str(soup(hidden).main).replace("board", "X") == str(soup(nothing).main).replace("no-such-place", "X")
        assert "Board" not in hidden.text


class TestAskingToJoin:
    def test_a_member_of_the_site_asks_and_a_facilitator_approves_on_the_web(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(BOB)
        asked = client.post(
            "/c/lounge/request",
            data={"csrf_token": csrf_token(), "reason": "I run the Cardiff wardens.", "delivery": "daily"},
        )
        assert asked.status_code == 303
        assert "waiting for a facilitator" in client.get("/c/lounge/").text
        [notice] = mail_to(sessionmaker, ANN)
        assert "Bob asks to join" in notice.payload["subject"]
        assert "I run the Cardiff wardens." in notice.payload["text"]
        assert notice.payload["reply_to"].startswith("lounge-decide+")
        as_user(ANN)
        queue = client.get("/c/lounge/manage/requests")
        assert queue.status_code == 200 and "I run the Cardiff wardens." in queue.text
        form = soup(queue).find("form", action=re.compile(r"/c/lounge/manage/requests/\d+"))
        field = form.find("textarea")["name"]
        decided = client.post(
            form["action"], data={"csrf_token": csrf_token(), "action": "approve", field: "Croeso, Bob!"}
        )
        assert decided.status_code == 303
        assert standing(sessionmaker, BOB, "lounge") == ("active", "daily")
        [news] = mail_to(sessionmaker, BOB)
        assert "approved" in news.payload["text"] and "Croeso, Bob!" in news.payload["text"]
        again = client.post(
            form["action"], data={"csrf_token": csrf_token(), "action": "decline"}, follow_redirects=True
        )
        assert "already been approved" in again.text
        assert standing(sessionmaker, BOB, "lounge") == ("active", "daily")

    def test_declined_the_requester_is_told_and_stays_outside(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(BOB)
        client.post("/c/lounge/request", data={"csrf_token": csrf_token(), "reason": "Curious.", "delivery": "each"})
        with sessionmaker() as session:
            request_id = session.scalar(select(JoinRequest.id))
        as_user(ANN)
        client.post(f"/c/lounge/manage/requests/{request_id}", data={"csrf_token": csrf_token(), "action": "decline"})
        assert standing(sessionmaker, BOB, "lounge") is None
        assert "declined" in mail_to(sessionmaker, BOB)[-1].payload["text"]

    def test_a_visitor_confirms_their_address_before_the_facilitators_hear(
        self, client: FlaskClient, csrf_token: Callable[[], str], sessionmaker: SessionMaker[Session]
    ) -> None:
        missing = client.post("/c/lounge/request", data={"csrf_token": csrf_token(), "reason": "Hello."})
        assert missing.status_code == 400 and "Enter an email address" in missing.text
        asked = client.post(
            "/c/lounge/request",
            data={"csrf_token": csrf_token(), "email": CEM, "reason": "New warden in Bangor.", "delivery": "each"},
        )
        assert asked.status_code == 200 and CEM in asked.text
        assert mail_to(sessionmaker, ANN) == []
        confirm = link(mail_to(sessionmaker, CEM)[0], "/join-requests/confirm/")
        assert client.get(confirm).status_code == 200  # a mail scanner's GET changes nothing
        assert mail_to(sessionmaker, ANN) == []
        done = client.post(confirm, data={"csrf_token": csrf_token()})
        assert done.status_code == 200 and "with its facilitators" in done.text
        [notice] = mail_to(sessionmaker, ANN)
        assert "New warden in Bangor." in notice.payload["text"]
        cem = uid(sessionmaker, CEM)  # the account was made: the link proved the address
        with sessionmaker() as session:
            asked_row = session.scalars(select(JoinRequest)).one()
        assert asked_row.status is RequestStatus.pending and asked_row.user_id == cem
        assert client.post(confirm, data={"csrf_token": csrf_token()}).status_code == 404


class TestInvitations:
    def invite(self, client: FlaskClient, csrf_token: Callable[[], str], **fields: object) -> TestResponse:
        return client.post(
            "/c/board/manage/invitations",
            data={"csrf_token": csrf_token(), "days": "14", **fields},
            content_type="multipart/form-data",
        )

    def test_an_invitee_joins_a_private_community_in_one_click(
        self,
        client: FlaskClient,
        sign_in: SignIn,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        sent = self.invite(client, csrf_token, email=CEM, message="Join us for the budget round.")
        assert sent.status_code == 303
        assert self.invite(client, csrf_token, email=CEM).status_code == 303  # again: nothing new sent
        [invitation] = mail_to(sessionmaker, CEM)
        assert "Join us for the budget round." in invitation.payload["text"]
        page = client.get("/c/board/manage/invitations")
        assert CEM in page.text and "Withdraw" in page.text
        sign_in(None)
        url = link(invitation, "/invite/")
        shown = client.get(url)
        assert shown.status_code == 200 and "Board" in shown.text
        assert standing(sessionmaker, CEM, "board") is None  # GET joins nobody
        joined = client.post(url, data={"csrf_token": csrf_token()})
        assert joined.status_code == 303 and joined.headers["Location"].endswith("/c/board/")
        assert standing(sessionmaker, CEM, "board") == ("active", "each")
        assert "Secret board plans" in client.get("/c/board/").text  # signed in, as a member
        used = client.get(url)
        assert used.status_code == 404 and "Board" not in used.text and "board" not in used.text

    def test_withdrawn_and_expired_invitations_lead_nowhere(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        self.invite(client, csrf_token, email=CEM)
        self.invite(client, csrf_token, email=BOB)
        with sessionmaker() as session:
            cem_id = session.scalar(select(Invitation.id).where(Invitation.email == CEM))
        assert (
            client.post(f"/c/board/manage/invitations/{cem_id}/withdraw", data={"csrf_token": csrf_token()}).status_code
            == 303
        )
        with sessionmaker.begin() as session:
            session.execute(
                update(Invitation).where(Invitation.email == BOB).values(expires_at=utcnow() - timedelta(minutes=1))
            )
        for address in (CEM, BOB):
            url = link(mail_to(sessionmaker, address)[-1], "/invite/")
            for response in (client.get(url), client.post(url, data={"csrf_token": csrf_token()})):
                assert response.status_code == 404 and "Board" not in response.text
            assert standing(sessionmaker, address, "board") is None

    def test_a_csv_with_bad_rows_sends_nothing_and_names_each(
        self,
        client: FlaskClient,
        as_user: Callable[[str], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        as_user(ANN)
        bad = b"email,name\ncem@example.org,Cem\nnot-an-address,X\ndan@example.org,Dan\nalso bad,Y\n"
        refused = self.invite(client, csrf_token, csv_file=(io.BytesIO(bad), "people.csv"))
        assert refused.status_code == 400
        assert "Row 3: &#39;not-an-address&#39;" in refused.text and "row 5: &#39;also bad&#39;" in refused.text
        assert mail_to(sessionmaker, CEM) == []
        good = b"email,name\ncem@example.org,Cem\ndan@example.org,Dan\n"
        assert self.invite(client, csrf_token, csv_file=(io.BytesIO(good), "people.csv")).status_code == 303
        assert self.invite(client, csrf_token, csv_file=(io.BytesIO(good), "people.csv")).status_code == 303
        assert len(mail_to(sessionmaker, CEM)) == len(mail_to(sessionmaker, "dan@example.org")) == 1


def test_facilitators_change_who_can_see_a_community(
    client: FlaskClient,
    as_user: Callable[[str], None],
    csrf_token: Callable[[], str],
    sessionmaker: SessionMaker[Session],
) -> None:
    as_user(ANN)
    page = client.get("/c/lounge/manage/settings")
    assert 'value="restricted"' in page.text
    saved = client.post(
        "/c/lounge/manage/settings",
        data={
            "csrf_token": csrf_token(),
            "name": "Lounge",
            "visibility": "private",
            "posting_policy": "members",
            "language": "en",
        },
    )
    assert saved.status_code == 303
    with sessionmaker() as session:
        assert community_by_slug(session, "lounge").visibility is Visibility.private
    as_user(BOB)
    assert client.get("/c/lounge/").status_code == 404


def test_an_invitation_link_pasted_into_a_post_is_not_published(
    client: FlaskClient,
    as_user: Callable[[str], None],
    csrf_token: Callable[[], str],
    sessionmaker: SessionMaker[Session],
    site: Site,
) -> None:
    """Someone forwards their invitation to a list: the archive must not hand it to every reader."""
    as_user(ANN)
    client.post(
        "/c/board/manage/invitations",
        data={"csrf_token": csrf_token(), "days": "14", "email": CEM},
        content_type="multipart/form-data",
    )
    url = link(mail_to(sessionmaker, CEM)[0], "/invite/")
    raw = (
        f"From: Bob <{BOB}>\r\nTo: housing@{site.mail_domain}\r\nSubject: Look\r\nMessage-ID: <fw1@example.org>\r\n\r\n"
        f"I was sent this: {site.settings.site.base_url.rstrip('/')}{url}\r\n"
    ).encode()
    reply, outcomes = through_the_gateway(site, sessionmaker, raw, BOB, f"housing@{site.mail_domain}")
    assert reply.code == 250 and "posted as" in outcomes[0], outcomes
    with sessionmaker() as session:
        body = session.scalars(select(Post.body).where(Post.subject == "Look")).one()
    assert "I was sent this" in body and url.rsplit("/", 1)[1] not in body
