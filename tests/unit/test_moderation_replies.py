"""Reading a moderator's answer, and writing members out for a spreadsheet: pure functions."""

from __future__ import annotations

import pytest

from forum.moderation_replies import APPROVE, REJECT, Decision, address, decision, read_token
from forum.roster import spreadsheet_safe
from forum.tokens import BadToken, Signer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve", Decision(APPROVE)),
        ("Approve.\n\nThanks", Decision(APPROVE)),
        ("  APPROVE please", Decision(APPROVE)),
        ("Cymeradwyo, diolch", Decision(APPROVE)),
        ("reject", Decision(REJECT)),
        ("Reject: off topic\nfor this list", Decision(REJECT, "off topic\nfor this list")),
        ("gwrthod - dim yn berthnasol", Decision(REJECT, "dim yn berthnasol")),
        ("I approve", None),
        ("approved", None),
        ("", None),
        ("> approve", None),
    ],
)
def test_the_first_word_decides(text: str, expected: Decision | None) -> None:
    assert decision(text) == expected


def test_an_answer_address_names_the_post_and_the_moderator_only_to_us() -> None:
    signer = Signer("secret-one")
    made = address(signer, "housing", "lists.example.org", 42, 7)
    local, _, domain = made.partition("@")
    assert domain == "lists.example.org" and local.startswith("housing-moderate+")
    token = local.split("+", 1)[1]
    assert read_token(signer, token) == (42, 7)
    with pytest.raises(BadToken):
        read_token(Signer("another-secret"), token)


@pytest.mark.parametrize(
    ("cell", "written"),
    [("=1+1", "'=1+1"), ("+44 1234", "'+44 1234"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("Ann", "Ann"), ("", "")],
)
def test_cells_a_spreadsheet_would_run_are_text(cell: str, written: str) -> None:
    assert spreadsheet_safe(cell) == written
