"""Names in Welsh and English alphabetical order (forum.collation)."""

from __future__ import annotations

from forum.collation import english_key, sort_key, welsh_key

PLACES = [
    "Rhyl",
    "Llanelli",
    "Chwilog",
    "Ruthin",
    "Cwm",
    "Lymm",
    "Ddol",
    "Dinbych",
    "Fflint",
    "Fron",
    "Thomas",
    "Tomos",
]


def test_welsh_letters_of_two_characters_sort_after_their_first() -> None:
    assert sorted(PLACES, key=welsh_key) == [
        "Cwm",
        "Chwilog",
        "Dinbych",
        "Ddol",
        "Fron",
        "Fflint",
        "Lymm",
        "Llanelli",
        "Ruthin",
        "Rhyl",
        "Tomos",
        "Thomas",
    ]


def test_english_order_reads_every_character_as_a_letter() -> None:
    assert sorted(PLACES, key=english_key) == [
        "Chwilog",
        "Cwm",
        "Ddol",
        "Dinbych",
        "Fflint",
        "Fron",
        "Llanelli",
        "Lymm",
        "Rhyl",
        "Ruthin",
        "Thomas",
        "Tomos",
    ]


def test_ng_is_one_letter_only_where_a_word_starts() -> None:
    """ "yng Nghaerdydd": ng after g; "Bangor" and "Llangollen": n then g, as dictionaries sort them."""
    assert sorted(["Nant", "Nghaerdydd", "Gwynedd", "Hendy"], key=welsh_key) == [
        "Gwynedd",
        "Nghaerdydd",
        "Hendy",
        "Nant",
    ]
    assert sorted(["Banw", "Bangor", "Banc"], key=welsh_key) == ["Banc", "Bangor", "Banw"]
    assert sorted(["Llanelli", "Llangollen", "Llanymddyfri"], key=welsh_key) == [
        "Llanelli",
        "Llangollen",
        "Llanymddyfri",
    ]


def test_case_and_accents_only_break_ties() -> None:
    assert sorted(["tŷ gwyn", "Ty Mawr", "ty", "Tyddyn", "tŷ", "Ty"], key=welsh_key) == [
        "Ty",
        "ty",
        "tŷ",
        "Tyddyn",
        "tŷ gwyn",
        "Ty Mawr",
    ]
    assert sorted(["Môn", "Mon", "Mona", "Morfa"], key=english_key) == ["Mon", "Môn", "Mona", "Morfa"]
    assert sorted(["Zoe", "2 Tai", "Kelly", "Owain"], key=welsh_key) == ["2 Tai", "Kelly", "Owain", "Zoe"]


def test_the_key_follows_the_language() -> None:
    assert sort_key("cy") is welsh_key and sort_key("en") is english_key and sort_key("") is english_key
