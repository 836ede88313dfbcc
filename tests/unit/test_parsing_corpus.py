"""Message parsing against every message of the corpus.

Every RFC 822 item, and every message of every mbox, must parse or be refused
with :class:`MalformedMail` and a readable reason -- never another exception.
Where the corpus has an oracle we check it: mime4j's decoded part bodies,
the expectations Discourse's receiver spec states about these messages
(senders, recipients, titles, attachment names, bounces and auto-replies),
and the reference split of an mbox.
"""

from __future__ import annotations

import json
import mailbox
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mailgateway.text.parsing import MalformedMail, ParsedMail, parse_message
from tests.corpus import corpus_dir, manifest, require_corpus

RFC822_ITEMS = [item for item in manifest() if item["input_format"] == "rfc822"]
MBOX_ITEMS = [item for item in manifest() if item["input_format"] == "mbox"]
MIME4J_ITEMS = [item for item in manifest() if item["kind"] == "mime_structure"]
# Several MIME test messages have no usable From; the MIME checks add one.
TEST_SENDER = b"From: corpus-test@example.com\r\n"


def _path_id(item: dict) -> str:
    return item["file"]


def _parse_or_refuse(raw: bytes) -> ParsedMail | None:
    try:
        return parse_message(raw)
    except MalformedMail as refusal:
        assert str(refusal).strip(), "a refusal must say why"
        return None


def _check_invariants(mail: ParsedMail, raw: bytes) -> None:
    """What every consumer of ParsedMail relies on."""
    assert mail.size == len(raw)
    assert mail.from_addr is None or ("@" in mail.from_addr and mail.from_addr == mail.from_addr.lower())
    for addr in mail.to + mail.cc:
        assert "@" in addr and addr == addr.lower() and " " not in addr
    for ident in (mail.message_id, *mail.in_reply_to, *mail.references):
        assert ident is None or (ident and not re.search(r"[<>\s]", ident))
    assert len(set(mail.references)) == len(mail.references)
    assert mail.date is None or mail.date.tzinfo is not None
    assert "\r" not in mail.text and "\x00" not in mail.text
    assert mail.subject == mail.subject.strip() and "\n" not in mail.subject
    for attachment in mail.attachments:
        assert attachment.filename and not re.search(r"[/\\]", attachment.filename)
        assert re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+_-]+", attachment.content_type), attachment.content_type
        assert attachment.content_id is None or not attachment.content_id.startswith("<")


def test_corpus_is_present() -> None:
    require_corpus()
    assert len(RFC822_ITEMS) > 500


@pytest.mark.parametrize("item", RFC822_ITEMS, ids=_path_id)
def test_every_message_parses_or_is_refused(item: dict) -> None:
    raw = (require_corpus() / item["file"]).read_bytes()
    mail = _parse_or_refuse(raw)
    if mail is not None:
        _check_invariants(mail, raw)


@pytest.mark.parametrize("item", MBOX_ITEMS, ids=_path_id)
def test_every_mbox_message_parses_or_is_refused(item: dict) -> None:
    box = mailbox.mbox(str(require_corpus() / item["file"]), create=False)
    raws = [message.as_bytes() for message in box]
    assert raws
    for raw in raws:
        mail = _parse_or_refuse(raw)
        if mail is not None:
            _check_invariants(mail, raw)


def test_mbox_split_matches_the_reference_messages() -> None:
    folder = require_corpus() / "mime4j" / "mbox-split"
    split = [parse_message(m.as_bytes()) for m in mailbox.mbox(str(folder / "mbox.rlug"), create=False)]
    expected = [parse_message((folder / f"mbox.rlug-{i}").read_bytes()) for i in range(5)]
    assert [(m.message_id, m.from_addr, m.subject) for m in split] == [
        (m.message_id, m.from_addr, m.subject) for m in expected
    ]
    assert all(a.text.strip() == b.text.strip() for a, b in zip(split, expected, strict=True))


# --------------------------------------------------------------------------
# mime4j: decoded part bodies
# --------------------------------------------------------------------------

KNOWN_MIME4J_DIFFERENCES = {
    "weird-boundary_decoded_1_1.txt": "a line equal to the boundary minus its trailing spaces: RFC 2046 "
    "lets trailing whitespace be transport padding, so the stdlib takes it as the boundary",
    "very-long-boundary_decoded_1_1.txt": "same boundary-with-trailing-space ambiguity as weird-boundary",
    "very-very-long-boundary_decoded_1_1.txt": "same boundary-with-trailing-space ambiguity as weird-boundary",
    "malformedHeaderStartsBody-nocrlfcrlf_decoded_1.txt": "no blank line after the headers: mime4j reads "
    "a later 'Name: value' line as a header, the stdlib ends the headers at the first non-header line",
    "double-semicolon_decoded_1_1.txt": "multipart/alternative of two text/plain parts: only the last, "
    "preferred alternative becomes the text",
    "double-semicolon2_decoded_1_1.txt": "multipart/alternative of two text/plain parts: only the last, "
    "preferred alternative becomes the text",
}


@dataclass(frozen=True)
class DecodedPart:
    message: str
    part: str

    def __str__(self) -> str:
        return Path(self.part).name


def _decoded_parts() -> list[Any]:
    params = []
    for item in MIME4J_ITEMS:
        for part in item.get("expected_extra", {}).get("decoded_parts", []):
            reason = KNOWN_MIME4J_DIFFERENCES.get(Path(part).name)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(DecodedPart(item["file"], part), marks=marks, id=Path(part).name))
    return params


def _with_sender(raw: bytes) -> bytes:
    """The message with a usable first From, so that its MIME can be checked."""
    return TEST_SENDER + raw


def _flatten(mail: ParsedMail, depth: int = 0) -> tuple[list[str], list[bytes]]:
    """Texts and attachment bodies of a message and of the messages attached to it."""
    texts = [mail.text] + ([mail.html] if mail.html else [])
    blobs: list[bytes] = []
    for attachment in mail.attachments:
        blobs.append(attachment.data)
        if attachment.content_type == "message/rfc822" and depth < 6:
            nested = _parse_or_refuse(_with_sender(attachment.data))
            if nested is not None:
                more_texts, more_blobs = _flatten(nested, depth + 1)
                texts += more_texts
                blobs += more_blobs
    return texts, blobs


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _squash_bytes(data: bytes) -> bytes:
    return re.sub(rb"\s+", b" ", data).strip()


def _declared_charsets(raw: bytes) -> list[str]:
    found = re.findall(rb"charset\s*=\s*\"?([\w.:-]+)", raw, re.I)
    return ["utf-8"] + [c.decode("ascii") for c in found]


def _decoded_part_found(expected: bytes, raw: bytes, texts: list[str], blobs: list[bytes]) -> bool:
    if any(expected == blob for blob in blobs):
        return True
    # An attached message is regenerated from its parsed form: compare it loosely.
    loose = _squash_bytes(expected)
    if any(loose in _squash_bytes(blob) for blob in blobs):
        return True
    squashed = [_squash(text) for text in texts]
    for charset in _declared_charsets(raw):
        try:
            wanted = _squash(expected.decode(charset))
        except (LookupError, UnicodeDecodeError):
            continue
        if any(wanted in text for text in squashed):
            return True
    return False


@pytest.mark.parametrize("case", _decoded_parts())
def test_mime4j_decoded_part_is_in_the_parsed_message(case: DecodedPart) -> None:
    corpus = require_corpus()
    raw = _with_sender((corpus / case.message).read_bytes())
    mail = _parse_or_refuse(raw)
    assert mail is not None
    texts, blobs = _flatten(mail)
    assert _decoded_part_found((corpus / case.part).read_bytes(), raw, texts, blobs)


# --------------------------------------------------------------------------
# Discourse receiver expectations
# --------------------------------------------------------------------------

DISCOURSE = "discourse_receiver"
SENDER_EMAIL_EXPRS = {
    "post.user.email",
    "user.email",
    "email",
    "incoming.from_address",
    "last_post.user.email",
    "Topic.last.user.email",
}
SENDER_NAME_EXPRS = {"user.name", "name", "Topic.last.user.name"}
TITLE_EXPRS = {"topic.title", "Topic.last.title"}
# Names Discourse makes up from the address when the header gives none.
DERIVED_NAMES = {("emails_transcribed/mailman_2.eml", "Some"), ("emails_transcribed/mailman_4.eml", "Some")}
DISCOURSE_TITLE_PLACEHOLDER = "This topic needs a title"


def _discourse_expectations() -> dict[str, list[dict]]:
    path = corpus_dir() / DISCOURSE / "expectations.json"
    return json.loads(path.read_text(encoding="utf-8"))["fixtures"] if path.is_file() else {}


@dataclass(frozen=True)
class Expectation:
    """What a Discourse expectation says about the parsed message: ``read(mail) == expected``.

    ``read`` is None when the message must be refused for having no sender.
    """

    read: Callable[[ParsedMail], object] | None
    expected: object = None


def _field(name: str) -> Callable[[ParsedMail], object]:
    return lambda mail: getattr(mail, name)


def _assert_expectation(fixture: str, expectation: dict) -> Expectation | None:
    """The Discourse ``assert`` as a check on the message itself, or None if it is about forum state."""
    expr, value = expectation["expr"], expectation["value"]
    if expr in SENDER_EMAIL_EXPRS:
        return Expectation(_field("from_addr"), value)
    if expr in SENDER_NAME_EXPRS and (fixture, value) not in DERIVED_NAMES:
        return Expectation(_field("from_name"), value)
    if expr in TITLE_EXPRS:
        return Expectation(_field("subject"), "" if value == DISCOURSE_TITLE_PLACEHOLDER else value)
    if expr == "Upload.last.original_filename":
        return Expectation(lambda mail: value in [a.filename for a in mail.attachments], True)
    if expr in ("email.to_addresses", "email.cc_addresses"):
        field_name = "to" if expr == "email.to_addresses" else "cc"
        return Expectation(lambda mail: ";".join(getattr(mail, field_name)), value)
    recipients_listed = (expr == "emails" and expectation["matcher"] == "contain_exactly") or (
        # The other address tested with this one is in the forwarded message's own headers.
        expr == "incoming_email.cc_addresses" and value == ["c@example.com"]
    )
    if recipients_listed:
        return Expectation(lambda mail: set(value) <= {mail.from_addr, *mail.to, *mail.cc}, True)
    return None


def _error_expectation(expectation: dict) -> Expectation | None:
    """The Discourse error as a check, when it follows from the message alone."""
    if not expectation.get("content_level"):
        return None
    error = expectation["value"]
    if error == "NoSenderDetectedError":
        return Expectation(None)
    if error == "AutoGeneratedEmailError":
        return Expectation(lambda mail: mail.auto_reason not in (None, "bounce"), True)
    if error == "BouncedEmailError":
        return Expectation(_field("auto_reason"), "bounce")
    if error == "NoBodyDetectedError":
        return Expectation(lambda mail: bool(mail.text.strip() or mail.attachments), False)
    return None


def _discourse_cases() -> list[Any]:
    params = []
    for fixture, expectations in _discourse_expectations().items():
        for number, expectation in enumerate(expectations):
            if expectation["type"] == "assert":
                mapped = _assert_expectation(fixture, expectation)
            elif expectation["type"] == "error":
                mapped = _error_expectation(expectation)
            else:
                mapped = None
            if mapped is not None:
                label = expectation.get("expr") or expectation["value"]
                params.append(pytest.param(fixture, mapped, id=f"{fixture}#{number}-{label}"))
    return params


@pytest.mark.parametrize(("fixture", "expectation"), _discourse_cases())
def test_discourse_expectation(fixture: str, expectation: Expectation) -> None:
    raw = (require_corpus() / DISCOURSE / fixture).read_bytes()
    if expectation.read is None:
        with pytest.raises(MalformedMail, match="From"):
            parse_message(raw)
    else:
        assert expectation.read(parse_message(raw)) == expectation.expected


def test_discourse_expectations_are_mostly_mapped() -> None:
    """Guard against the mapping silently shrinking if the file's format changes."""
    require_corpus()
    assert len(_discourse_cases()) >= 45


def test_mailing_list_precedence_is_reported_as_automatic() -> None:
    mail = parse_message((require_corpus() / DISCOURSE / "emails" / "mailinglist.eml").read_bytes())
    assert mail.auto_reason == "Precedence: list"
    assert mail.list_id == "list@example.com"


@pytest.mark.parametrize(
    "thread",
    [
        ["email_reply_1", "email_reply_2", "email_reply_3", "email_reply_4"],
        ["mailinglist", "mailinglist_reply"],
    ],
    ids=["email_reply", "mailinglist"],
)
def test_discourse_threads_link_each_reply_to_an_earlier_message(thread: list[str]) -> None:
    folder = require_corpus() / DISCOURSE / "emails"
    mails = [parse_message((folder / f"{name}.eml").read_bytes()) for name in thread]
    for index, reply in enumerate(mails[1:], start=1):
        earlier = {m.message_id for m in mails[:index]}
        assert earlier & set(reply.in_reply_to + reply.references)
