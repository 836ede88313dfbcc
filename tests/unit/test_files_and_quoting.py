"""Safe names and types for stored files (forum.files), and a web reply's quote (forum.quoting)."""

from __future__ import annotations

import pytest

from forum.files import MAX_FILENAME_BYTES, safe_filename, uploaded_type
from forum.quoting import QuotedParent, attribution, excerpt, quote_text

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # shown as "invoiceexe.pdf" with the override
        ("tab\there\x00.txt", "tabhere.txt"),
        (" .hidden. ", "hidden"),
        ("", "attachment-3.pdf"),
        ("/", "attachment-3.pdf"),
    ],
)
def test_a_filename_is_made_plain(given: str, stored: str) -> None:
    assert safe_filename(given, 3, "application/pdf") == stored


def test_an_overlong_name_keeps_its_extension() -> None:
    name = safe_filename("ä" * 300 + ".docx", 1, "application/octet-stream")
    assert len(name.encode()) <= MAX_FILENAME_BYTES and name.endswith("ä.docx")


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("photo.png", PNG, "image/png"),
        ("photo.jpg", PNG, "image/png"),  # the bytes decide
        ("photo.png", b"<html><script>", "application/octet-stream"),  # not what the name says
        ("drawing.svg", b"<svg onload=alert(1)>", "application/octet-stream"),
        ("scan.pdf", b"%PDF-1.7\n", "application/pdf"),
        ("scan.pdf", b"MZ\x90\x00", "application/octet-stream"),
        ("notes.txt", b"notes", "text/plain"),
        ("minutes.docx", b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("noextension", b"data", "application/octet-stream"),
        ("pic.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    ],
)
def test_the_stored_type_comes_from_the_bytes_and_name(name: str, data: bytes, kind: str) -> None:
    assert uploaded_type(name, data) == kind


def test_a_long_parent_is_quoted_in_part() -> None:
    lines = excerpt("\n".join(f"line {n}" for n in range(20)))
    assert lines == [*(f"line {n}" for n in range(8)), "[…]"]
    assert excerpt("a\n\n\n\nb\n") == ["a", "", "b"]
    long = excerpt("x" * 2000)
    assert long == ["x" * 600, "[…]"]


def test_the_quote_is_attributed_in_the_readers_language() -> None:
    parent = QuotedParent("Ann", "Who has advice?\n\nOn damp.")
    assert quote_text(parent, "en") == "Ann wrote:\n> Who has advice?\n>\n> On damp."
    assert attribution("Ann", "cy") == "Ysgrifennodd Ann:"
    assert attribution("Someone", "bilingual") == "Ysgrifennodd Rhywun: / Someone wrote:"


def test_an_uploaded_message_file_travels_as_its_bytes() -> None:
    assert uploaded_type("forwarded.eml", b"From: a@b\r\n\r\nhi") == "application/octet-stream"
