"""People on the web: who sees a profile, finding an expert without a private post leaking,
and keeping one's own profile (photo included)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum.access import user_by_email
from forum.models import ExpertiseTag, Profile, ProfileVisibility, User
from forum.posting import Draft, submit_post
from forum.profiles import profile_of, set_expertise
from forum.site import Site
from tests.support import make_community, make_member

MO, BOB, UNA, DAN, ANN = (f"{w}@council.example" for w in ("mo", "bob", "una", "dan", "ann"))
SECRET_WORDS = "ZQX-77"


@pytest.fixture(autouse=True)
def world(sessionmaker: SessionMaker[Session], site: Site) -> None:
    """Housing (public): Mo, Bob, Ann. Secret (private): Una and Ann. Garden: Dan, who
    shares no community with Mo. Mo says she knows about damp and mould and wrote about it
    in Housing; Una wrote about mould only in Secret; Ann wrote about mould twice in Housing."""
    with sessionmaker.begin() as db:
        housing = make_community(db, "housing")
        secret = make_community(db, "secret", private=True)
        for address in (MO, BOB, ANN):
            make_member(db, housing, address)
        make_member(db, secret, UNA)
        make_member(db, secret, ANN)
        make_member(db, make_community(db, "garden"), DAN)
        db.flush()
        mo = user_of(db, MO)
        mo.display_name = "Morwenna Quillfeather"
        profile = profile_of(db, mo.id)
        profile.organisation = "Ceredigion County Council"
        set_expertise(db, mo.id, ["Damp and Mould", "HHSRS"])
        user_of(db, UNA).display_name = "Una Vexley"
        profile_of(db, user_of(db, UNA).id).visibility = ProfileVisibility.members
        user_of(db, ANN).display_name = "Ann Oakridge"
        posts = [
            ("secret", UNA, "Mould remediation", f"Our mould remediation contract uses {SECRET_WORDS} fogging."),
            ("housing", MO, "Condensation", "Condensation and mould: ventilation first."),
            ("housing", ANN, "Mould in flats", "We see mould every winter."),
            ("housing", ANN, "More mould", "Mould again, in the same block."),
        ]
        for slug, author, subject, body in posts:
            submit_post(db, Draft(community=slug, author_email=author, subject=subject, body=body), site)


def user_of(db: Session, address: str) -> User:
    user = user_by_email(db, address)
    assert user is not None
    return user


def user_id(sessionmaker: SessionMaker[Session], address: str) -> int:
    with sessionmaker() as db:
        return user_of(db, address).id


def set_visibility(sessionmaker: SessionMaker[Session], address: str, setting: ProfileVisibility) -> None:
    with sessionmaker.begin() as db:
        profile_of(db, user_of(db, address).id).visibility = setting


def without_tokens(page: str) -> str:
    """A page without its CSRF tokens, which carry a timestamp."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def addresses_in(page: str) -> list[str]:
    return re.findall(r"[\w.+-]+@council\.example", page)


class TestVisibility:
    @pytest.mark.parametrize(
        ("setting", "sharing_member_sees", "other_member_sees"),
        [
            (ProfileVisibility.shared, True, False),
            (ProfileVisibility.members, True, True),
            (ProfileVisibility.nobody, False, False),
        ],
    )
    def test_who_sees_a_profile(
        self,
        client: FlaskClient,
        sign_in: Callable[[int | None], None],
        sessionmaker: SessionMaker[Session],
        setting: ProfileVisibility,
        sharing_member_sees: bool,
        other_member_sees: bool,
    ) -> None:
        set_visibility(sessionmaker, MO, setting)
        mo = user_id(sessionmaker, MO)
        for viewer, sees in ((BOB, sharing_member_sees), (DAN, other_member_sees)):
            sign_in(user_id(sessionmaker, viewer))
            page = client.get(f"/people/{mo}")
            assert page.status_code == (200 if sees else 404), (viewer, setting)
            assert ("Ceredigion County Council" in page.text) is sees
            listing = client.get("/people?q=Ceredigion").text
            assert ("Morwenna Quillfeather" in listing) is sees, (viewer, setting)
            everyone = client.get("/people").text
            assert ("Morwenna Quillfeather" in everyone) is sees, (viewer, setting)
            assert addresses_in(page.text + listing + everyone) == []
        sign_in(None)
        for url in (f"/people/{mo}", "/people?q=mould", "/people", f"/people/{mo}/photo"):
            response = client.get(url)
            assert response.status_code == 302 and "/signin" in response.headers["Location"], url
        # Her own profile she always sees, "nobody" or not.
        sign_in(mo)
        assert client.get(f"/people/{mo}").status_code == 200

    def test_guessing_ids_finds_nothing_that_is_hidden(
        self, client: FlaskClient, sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        set_visibility(sessionmaker, MO, ProfileVisibility.nobody)
        sign_in(user_id(sessionmaker, BOB))
        hidden = client.get(f"/people/{user_id(sessionmaker, MO)}")
        missing = client.get("/people/999999")
        assert hidden.status_code == missing.status_code == 404
        assert without_tokens(hidden.text) == without_tokens(missing.text)
        assert client.get("/people/99999999999999999999999").status_code == 404

    def test_the_address_is_shown_only_when_its_owner_chooses(
        self, client: FlaskClient, sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        sign_in(user_id(sessionmaker, BOB))
        mo = user_id(sessionmaker, MO)
        assert MO not in client.get(f"/people/{mo}").text
        with sessionmaker.begin() as db:
            db.get_one(Profile, mo).show_email = True
        assert MO in client.get(f"/people/{mo}").text


class TestFindingAnExpert:
    def test_stated_expertise_ranks_first_and_says_why(
        self, client: FlaskClient, sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        sign_in(user_id(sessionmaker, BOB))
        page = client.get("/people?q=who+knows+about+damp+and+mould%3F").text
        assert "Morwenna Quillfeather" in page and "Expertise: Damp and Mould" in page
        page = client.get("/people?q=mould").text
        assert page.index("Morwenna Quillfeather") < page.index("Ann Oakridge")
        assert "Expertise: Damp and Mould · 1 post about this in Housing" in page
        assert "2 posts about this in Housing" in page  # Ann: what she wrote
        assert addresses_in(page) == []

    def test_by_name_organisation_and_region(
        self, client: FlaskClient, sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        with sessionmaker.begin() as db:
            profile_of(db, user_of(db, MO).id).region = "Ceredigion"
            user_of(db, ANN).display_name = "Siân Bowen"
        sign_in(user_id(sessionmaker, BOB))
        for question in ("quillfeather", "COUNTY COUNCIL", "ceredigion", "Morwenna Ceredigion"):
            page = client.get("/people", query_string={"q": question}).text
            assert "Morwenna Quillfeather" in page and "Siân Bowen" not in page, question
        assert "Siân Bowen" in client.get("/people", query_string={"q": "Siân"}).text

    def test_a_private_post_never_leaks(
        self, client: FlaskClient, sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        """Una's profile is open to every member, but her only post on mould is in Secret:
        Bob, not a member there, learns nothing of it: not its words, nor that she wrote there."""
        sign_in(user_id(sessionmaker, BOB))
        for question in ("mould", "remediation", SECRET_WORDS, "fogging"):
            page = client.get("/people", query_string={"q": question}).text
            assert "Una Vexley" not in page, question
            assert question == SECRET_WORDS or SECRET_WORDS not in page, question  # (else echoed: it was asked)
            assert "Secret" not in page, question
        # Ann reads Secret: there Una's post is evidence.
        sign_in(user_id(sessionmaker, ANN))
        page = client.get("/people?q=remediation").text
        assert "Una Vexley" in page and "1 post about this in Secret" in page

    def test_a_hidden_profile_is_not_listed_for_what_its_owner_wrote(
        self, client: FlaskClient, sign_in: Callable[[int | None], None], sessionmaker: SessionMaker[Session]
    ) -> None:
        set_visibility(sessionmaker, ANN, ProfileVisibility.nobody)
        sign_in(user_id(sessionmaker, BOB))
        assert "Ann Oakridge" not in client.get("/people?q=mould").text


def png(size: tuple[int, int] = (1200, 800), *, exif: bool = True) -> bytes:
    image = Image.new("RGB", size, (200, 100, 50))
    out = io.BytesIO()
    extra = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCamMaker"  # Make
        extra["exif"] = data.tobytes()
    image.save(out, format="PNG", **extra)
    return out.getvalue()


class TestOwnProfile:
    def form(self, token: str, **fields: object) -> dict[str, object]:
        return {
            "csrf_token": token,
            "organisation": "Leeds City Council",
            "job_title": "Housing Officer",
            "region": "Yorkshire",
            "bio": "Twenty years in tenancy support.",
            "expertise": "homelessness; damp and mould",
            "links": "https://leeds.example/housing",
            "visibility": "members",
            **fields,
        }

    def test_saving_the_profile(
        self,
        client: FlaskClient,
        sign_in: Callable[[int | None], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        bob = user_id(sessionmaker, BOB)
        sign_in(bob)
        assert client.get("/account/public-profile").status_code == 200
        saved = client.post("/account/public-profile", data=self.form(csrf_token()))
        assert saved.status_code == 303
        with sessionmaker() as db:
            # "damp and mould" is the tag Mo gave as "Damp and Mould": one area, not two.
            assert db.scalars(select(ExpertiseTag.label).order_by(ExpertiseTag.label)).all() == [
                "Damp and Mould",
                "HHSRS",
                "homelessness",
            ]
        sign_in(user_id(sessionmaker, DAN))  # shares no community: sees it because Bob chose "members"
        page = client.get(f"/people/{bob}").text
        assert (
            "Leeds City Council" in page and "homelessness" in page and 'href="https://leeds.example/housing"' in page
        )

    def test_bad_links_and_files_are_refused_with_a_reason(
        self,
        client: FlaskClient,
        sign_in: Callable[[int | None], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        sign_in(user_id(sessionmaker, BOB))
        page = client.post("/account/public-profile", data=self.form(csrf_token(), links="javascript:alert(1)"))
        assert page.status_code == 400 and "is not a web address" in page.text
        not_an_image = self.form(csrf_token(), photo=(io.BytesIO(b"%PDF-1.4 not a photo"), "cv.png"))
        page = client.post("/account/public-profile", data=not_an_image, content_type="multipart/form-data")
        assert page.status_code == 400 and "The file is not a photo" in page.text
        # 100 megapixels of one colour: a few kilobytes that would decode to hundreds of MB.
        bomb = io.BytesIO()
        Image.new("1", (10_000, 10_000)).save(bomb, format="PNG")
        assert len(bomb.getvalue()) < 100_000
        page = client.post(
            "/account/public-profile",
            data=self.form(csrf_token(), photo=(io.BytesIO(bomb.getvalue()), "big.png")),
            content_type="multipart/form-data",
        )
        assert page.status_code == 400 and "dimensions are too large" in page.text
        with sessionmaker() as db:
            assert db.get(Profile, user_id(sessionmaker, BOB)) is None  # nothing saved

    def test_a_photo_is_made_small_and_loses_its_metadata(
        self,
        client: FlaskClient,
        sign_in: Callable[[int | None], None],
        csrf_token: Callable[[], str],
        sessionmaker: SessionMaker[Session],
    ) -> None:
        bob = user_id(sessionmaker, BOB)
        sign_in(bob)
        upload = self.form(csrf_token(), visibility="shared", photo=(io.BytesIO(png()), "me.png"))
        assert (
            client.post("/account/public-profile", data=upload, content_type="multipart/form-data").status_code == 303
        )
        served = client.get(f"/people/{bob}/photo")
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert b"SecretCamMaker" not in served.data
        with Image.open(io.BytesIO(served.data)) as photo:
            assert max(photo.size) == 400 and not photo.getexif()
        sign_in(user_id(sessionmaker, MO))  # shares Housing
        assert client.get(f"/people/{bob}/photo").status_code == 200
        sign_in(user_id(sessionmaker, DAN))  # shares nothing
        assert client.get(f"/people/{bob}/photo").status_code == 404
        sign_in(bob)
        removed = self.form(csrf_token(), visibility="shared", remove_photo="y")
        assert client.post("/account/public-profile", data=removed).status_code == 303
        assert client.get(f"/people/{bob}/photo").status_code == 404
