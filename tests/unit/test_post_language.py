"""A post's language: detected from its text, else its author's, else its community's."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.editing import edit_post
from forum.models import Post, User
from forum.post_language import post_language
from forum.posting import Draft, submit_post
from forum.site import Site
from tests.support import make_community, make_member

WELSH = "Mae'r cyngor yn chwilio am gynghorwyr tai i ymuno â'r tîm. Diolch yn fawr."
ENGLISH = "The council is looking for housing advisers to join the team. Many thanks."


@pytest.mark.parametrize(
    ("subject", "body", "found"),
    [
        ("Cynghorwyr tai", WELSH, "cy"),
        ("Housing advisers", ENGLISH, "en"),
        ("Re: Cyfarfod", "Helo pawb, oes gan unrhyw un brofiad o'r polisi newydd ar ddigartrefedd?", "cy"),
        ("Re: Meeting", "Hi all, has anyone got experience of the new homelessness policy?", "en"),
    ],
)
def test_a_text_long_enough_says_its_language(subject: str, body: str, found: str) -> None:
    assert post_language(subject, body) == found
    assert post_language(subject, body, "cy" if found == "en" else "en") == found, "the text wins over a setting"


def test_a_short_text_takes_the_authors_language_else_the_communitys_else_none() -> None:
    assert post_language("Re: Grant", "Diolch!", "cy", "en") == "cy"
    assert post_language("Re: Grant", "Diolch!", None, "cy") == "cy"
    assert post_language("Re: Grant", "Thanks!", None, "bilingual") == ""
    assert post_language("", "+1") == ""


def test_only_the_beginning_of_a_long_post_is_read() -> None:
    assert post_language("Adroddiad", WELSH * 30 + ENGLISH * 5000) == "cy"


def test_the_one_door_stores_it_and_an_edit_tells_it_again(sessionmaker: SessionMaker[Session], site: Site) -> None:
    with sessionmaker.begin() as session:
        tai = make_community(session, "tai")
        make_member(session, tai, "ann@example.org")
        session.scalars(select(User)).one().language = "cy"
        posted = [
            submit_post(session, Draft(community="tai", author_email="ann@example.org", subject=s, body=b), site).post
            for s, b in (("Cynghorwyr", WELSH), ("Advisers", ENGLISH), ("Re: Advisers", "Diolch!"))
        ]
        assert [post.language for post in posted] == ["cy", "en", "cy"]  # too short: Ann's language
        edit_post(session, posted[0], ENGLISH)
        edit_post(session, posted[1], "Iawn.")  # too short to tell: as it was
    with sessionmaker() as session:
        assert session.scalars(select(Post.language).order_by(Post.id)).all() == ["en", "en", "cy"]
