"""Reply subjects in the languages mail clients write them, and the key a thread is found by."""

from __future__ import annotations

import pytest

from forum.subjects import is_reply_subject, subject_key


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Build failure",
        "RE: Build failure",
        "AW: Build failure",
        "Sv: Build failure",
        "SV: Build failure",
        "Antw: Build failure",
        "Réf: Build failure",
        "R: Build failure",
        "VS: Build failure",
        "Odp: Build failure",
        "回复: Build failure",
        "答复：Build failure",
        "[dev] Re: Build failure",
        "Re[2]: Build failure",
        "Re : Build failure",
    ],
)
def test_reply_subjects_in_many_languages(subject: str) -> None:
    assert is_reply_subject(subject)
    assert subject_key(subject) == "build failure"


@pytest.mark.parametrize("subject", ["Fw: Build failure", "Fwd: Re: Build failure", "Build failure", "Reset: all", ""])
def test_non_reply_subjects(subject: str) -> None:
    assert not is_reply_subject(subject)


def test_subject_key_strips_every_prefix_and_tag() -> None:
    assert subject_key("[dev] Re: [dev] AW: Fwd:  Build   FAILURE ") == "build failure"
    assert subject_key("Build failure") == subject_key("RE: build failure")
