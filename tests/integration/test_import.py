"""``listbridge import`` as an operator runs it: progress, a summary, idempotent re-runs,
and one readable line for a file it cannot use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.corpus import require_corpus
from tests.head_schema import copy_head_schema
from tests.integration.served import ServedSite
from tests.integration.test_cli import assert_one_line_error

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> ServedSite:
    site = ServedSite(tmp_path, db_url, smarthost_port=25)
    copy_head_schema(db_url)
    site.cli("community", "create", "rlug", "--name", "RLUG")
    site.cli("member", "add", "rlug", "member@example.org")
    return site


def test_import_then_reimport(site: ServedSite) -> None:
    mbox = str(require_corpus() / "mime4j" / "mbox-split" / "mbox.rlug")
    first = site.cli("import", "rlug", mbox)
    assert first.stdout.strip().endswith("5 messages: 5 imported, 0 skipped (already there), 0 refused")
    assert "5/5" in first.stderr and "/s" in first.stderr  # the progress bar: count and rate
    again = site.cli("import", "rlug", mbox)
    assert again.stdout.strip().endswith("5 messages: 0 imported, 5 skipped (already there), 0 refused")


def test_refused_messages_are_named_and_the_run_succeeds(site: ServedSite, tmp_path: Path) -> None:
    mbox = tmp_path / "mixed.mbox"
    mbox.write_bytes(
        b"From a@example.org Mon Jan  3 10:00:00 2005\nFrom: a@example.org\nSubject: ok\n\nfine\n\n"
        b"From nobody Mon Jan  3 11:00:00 2005\nSubject: who?\n\nno author\n"
    )
    result = site.cli("import", "rlug", str(mbox))
    assert "1 imported, 0 skipped (already there), 1 refused" in result.stdout
    assert f"{mbox}: message 2: the From header of the message has no usable email address" in result.stderr


def test_unusable_input_is_one_line(site: ServedSite, tmp_path: Path) -> None:
    assert_one_line_error(
        site.cli("import", "rlug", str(tmp_path / "missing.mbox"), check=False), "missing.mbox", "no such file"
    )
    csv = tmp_path / "members.csv"
    csv.write_text("email,name\nalice@example.org,Alice\n")
    assert_one_line_error(site.cli("import", "rlug", str(csv), check=False), "members.csv", "not an mbox")
    mbox = tmp_path / "ok.mbox"
    shutil.copy(require_corpus() / "mime4j" / "mbox-split" / "mbox.rlug", mbox)
    assert_one_line_error(site.cli("import", "nosuch", str(mbox), check=False), "nosuch")
    # The missing community is what is wrong, whatever the file: it is named, not the file.
    missing = site.cli("import", "nosuch", str(tmp_path / "missing.mbox"), check=False)
    assert_one_line_error(missing, 'there is no community "nosuch"')
    assert "missing.mbox" not in missing.stderr
