"""Reply trimming against the corpus.

The reply_trimmer subset is the test suite of Discourse's email_reply_trimmer
(upstream compares ``strip``-ped text for equality, and so do we).  The
github_email_reply_parser texts have no expected output here, so they are run
for robustness and a few unambiguous spot checks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mailgateway.text.trimming import trim_reply
from tests.corpus import manifest, require_corpus

REQUIRED_ACCURACY = 0.95
# A guard against catastrophic regex backtracking, not a benchmark: each of
# these takes well under a second.
TIME_LIMIT_SECONDS = 5.0

TRIMMER_CASES = [
    item for item in manifest() if item["subset"] == "reply_trimmer" and item["kind"] == "reply_extraction"
]
REPLY_PARSER_TEXTS = [item for item in manifest() if item["subset"] == "github_email_reply_parser"]


def _name(item: dict) -> str:
    return Path(item["file"]).stem


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _trim_fixture(item: dict) -> tuple[str, str]:
    """(what we trim the email to, what upstream expects), both stripped."""
    corpus = require_corpus()
    body = trim_reply(_read(corpus / item["file"]).strip()).body.strip()
    return body, _read(corpus / item["expected"]).strip()


def test_corpus_is_present() -> None:
    require_corpus()
    assert len(TRIMMER_CASES) == 64


@pytest.mark.parametrize("item", TRIMMER_CASES, ids=_name)
def test_trimmed_body_matches_upstream(item: dict) -> None:
    body, expected = _trim_fixture(item)
    assert body == expected


@pytest.mark.parametrize("item", TRIMMER_CASES, ids=_name)
def test_elided_part_matches_upstream(item: dict) -> None:
    corpus = require_corpus()
    elided = trim_reply(_read(corpus / item["file"]).strip()).elided
    assert elided == _read(corpus / item["expected_extra"]["elided"]).strip()


def test_overall_trimming_accuracy() -> None:
    require_corpus()
    results = [_trim_fixture(item) for item in TRIMMER_CASES]
    exact = sum(body == expected for body, expected in results)
    accuracy = exact / len(TRIMMER_CASES)
    assert accuracy >= REQUIRED_ACCURACY, f"{exact}/{len(TRIMMER_CASES)} fixtures trimmed exactly"


@pytest.mark.parametrize(
    "relative",
    [
        "github_email_reply_parser/emails/email_long_quote.txt",
        "github_email_reply_parser/emails/pathological.txt",
        "reply_trimmer/matchers/does_not_contain_embedded_email.txt",
    ],
)
def test_pathological_input_is_fast(relative: str) -> None:
    text = _read(require_corpus() / relative)
    started = time.perf_counter()
    trim_reply(text)
    assert time.perf_counter() - started < TIME_LIMIT_SECONDS


@pytest.mark.parametrize("item", REPLY_PARSER_TEXTS, ids=_name)
def test_reply_parser_texts_trim_without_error(item: dict) -> None:
    text = _read(require_corpus() / item["file"])
    result = trim_reply(text)
    assert result.body == result.body.strip()
    assert len(result.body) <= len(text)


def _reply_parser_body(name: str) -> str:
    return trim_reply(_read(require_corpus() / "github_email_reply_parser" / "emails" / f"{name}.txt")).body


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("email_1_3", "Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona"),
        ("email_1_4", "Awesome! I haven't had another problem with it."),
        ("email_1_6", "I get proper rendering as well."),
        ("email_1_7", ":+1:"),
        ("email_BlackBerry", "Here is another email"),
        ("email_iPhone", "Here is another email"),
        ("email_multi_word_sent_from_my_mobile_device", "Here is another email"),
        ("correct_sig", "this is an email with a correct -- signature."),
        ("email_2_1", "Outlook with a reply"),
        ("email_2_2", "Outlook with a reply directly above line"),
        ("email_2_3", "Outlook with a reply directly above line"),
    ],
)
def test_reply_parser_spot_checks(name: str, expected: str) -> None:
    assert _reply_parser_body(name) == expected


def test_interleaved_reply_keeps_its_text_and_drops_the_list_footer() -> None:
    body = _reply_parser_body("email_1_2")
    assert body.startswith("Hi,\n")
    assert "You can list the keys for the bucket" in body
    assert "you’ll need to delete them all individually" in body
    assert "On Tue, 2011-03-01" not in body
    assert "-Abhishek Kona" not in body
    assert "riak-users mailing list" not in body


def test_text_that_merely_mentions_on_or_sent_from_is_kept() -> None:
    assert "Locally (on development), when I run..." in _reply_parser_body("email_one_is_not_on")
    assert "Dave Tapley" not in _reply_parser_body("email_one_is_not_on")
    greedy = _reply_parser_body("greedy_on")
    assert greedy.startswith("On your remote host you can run:")
    assert "the tunnel is not working." in greedy
    assert "George Plymale" not in greedy
    assert "Sent from my desk, is much easier" in _reply_parser_body("email_sent_from_my_not_signature")
    assert _reply_parser_body("email_sig_delimiter_in_middle_of_line").endswith("kthxbai")


def test_bullets_are_kept_and_quote_dropped() -> None:
    body = _reply_parser_body("email_bullets")
    assert "   - how about bullets\n   - and another" in body
    assert "examples@email.goalengine.com" not in body
