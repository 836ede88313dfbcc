"""Header values read back by a mail client (``email.policy.default``) as they were written,
wherever the fold falls: every length of ASCII text in front of each kind of tail."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from mailgateway.outgoing import encoded_words
from mailgateway.outgoing.rendering import POLICY

TAILS = [
    " – notification of changes",
    " ŵ ŷ test",
    " 🎉 party 👩‍👩‍👧",
    "–x",
    " Siân",
    "",
    ' "quoted", (x) and; more',
    " Ελληνικά κείμενα",
    " =?utf-8?q?looks_encoded?=",
]


def read_back(name: str, value: str) -> tuple[EmailMessage, list[bytes]]:
    msg = EmailMessage(policy=POLICY)
    msg.set_raw(name, value)
    msg.set_content("x")
    raw = msg.as_bytes()
    return message_from_bytes(raw, policy=policy.default), raw.split(b"\r\n\r\n")[0].split(b"\r\n")


@pytest.mark.parametrize("tail", TAILS)
def test_text_and_names_read_back_as_written_on_short_lines(tail: str) -> None:
    for length in range(1, 120):
        value = ("placements " * 12)[:length].rstrip() + tail
        subject, lines = read_back("Subject", encoded_words.text("Subject", value))
        assert subject["Subject"] == value
        assert all(len(line) <= encoded_words.LINE for line in lines), lines
        sender, lines = read_back("From", encoded_words.name_addr("From", value, "housing@lists.example.org"))
        [address] = sender["From"].addresses
        assert (address.display_name, address.addr_spec) == (value, "housing@lists.example.org")
        assert all(len(line) <= encoded_words.LINE for line in lines), lines


def test_text_that_is_not_ascii_at_all_starts_on_the_first_line_within_its_length() -> None:
    """Several encoded words in a row. The display name is decoded by RFC 2047's rule
    (``email.header``): the library's address parser keeps the folding space between two
    encoded words in a phrase, which §6.2 says to ignore, and mail clients do."""
    value = "Ελληνικά κείμενα για τη στέγαση " * 4
    subject, lines = read_back("Subject", encoded_words.text("Subject", value))
    assert subject["Subject"] == value.strip()
    assert all(len(line) <= encoded_words.LINE for line in lines), lines
    encoded = encoded_words.name_addr("From", value, "a@lists.example.org")
    sender, lines = read_back("From", encoded)
    assert all(len(line) <= encoded_words.LINE for line in lines), lines
    phrase, _, address = encoded.rpartition(" ")
    assert (str(make_header(decode_header(phrase))), address) == (value.strip(), "<a@lists.example.org>")
    assert sender["From"].addresses[0].addr_spec == "a@lists.example.org"
