"""The pure rules of profiles: how areas of expertise compare, what a question is about,
which links and photos are taken."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from forum.errors import InvalidInput
from forum.people_search import topic_words
from forum.photos import prepare_photo
from forum.profiles import check_links, fold, parse_expertise


def test_areas_compare_without_case_accents_or_spacing() -> None:
    assert fold("  Damp   and MOULD ") == fold("damp and mould") == "damp and mould"
    assert fold("Tai Ŵyl") == fold("tai wyl")
    assert parse_expertise("damp and mould; Damp and Mould ;; HHSRS") == ["damp and mould", "HHSRS"]


def test_a_question_is_reduced_to_its_topic() -> None:
    assert topic_words("Who knows about damp and mould?") == ["damp", "mould"]
    assert topic_words("Pwy sy'n gwybod am lwydni?") == ["lwydni"]
    assert topic_words("who knows") == ["who", "knows"]  # nothing but filler: taken as it is


def test_only_web_links_are_taken() -> None:
    assert check_links(" https://a.example/x \n\nhttp://b.example") == "https://a.example/x\nhttp://b.example"
    for bad in ("javascript:alert(1)", "data:text/html,hi", "https://", "ftp://x.example"):
        with pytest.raises(InvalidInput):
            check_links(bad)


def test_a_photo_is_turned_upright_before_its_metadata_goes() -> None:
    """A phone stores a portrait photo sideways with an EXIF orientation: the stored copy
    has no EXIF, so it must be turned by then."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    out = io.BytesIO()
    Image.new("RGB", (800, 400), "red").save(out, format="JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(prepare_photo(out.getvalue()))) as stored:
        assert stored.size == (200, 400) and not stored.getexif()
