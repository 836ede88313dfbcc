"""The catalogue's and community requests' pure rules: matching text, category labels, addresses."""

from __future__ import annotations

import pytest

from forum.catalogue import fold, normalize_category
from forum.community_requests import suggested_slug
from forum.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Tŷ a Chartrefi", "ty a chartrefi"),
        ("  CAFÉ\tculture ", "cafe culture"),
        ("Straße", "strasse"),
        ("100%", "100%"),
    ],
)
def test_fold_ignores_case_accents_and_spacing(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_a_category_is_a_short_label() -> None:
    assert normalize_category("  Tenancy \n law ") == "Tenancy law"
    assert normalize_category("   ") == ""
    assert normalize_category("x" * 60) == "x" * 60
    with pytest.raises(InvalidInput, match="at most 60 characters, not 61"):
        normalize_category("x" * 61)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Housing Advice", "housing-advice"),
        ("Tai Cymru – Housing", "tai-cymru-housing"),
        ("  Ŵyl & Eisteddfod!! ", "wyl-eisteddfod"),
        ("日本", ""),
        ("a" * 70, "a" * 64),
    ],
)
def test_an_address_is_suggested_from_the_name(name: str, slug: str) -> None:
    assert suggested_slug(name) == slug
