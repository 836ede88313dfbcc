"""The command line as an operator meets it: one readable line and a non-zero exit for
every mistake, and commands that are safe to repeat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.served import ServedSite

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> ServedSite:
    site = ServedSite(tmp_path, db_url, smarthost_port=25)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    return site


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_mistakes_give_one_readable_line(site: ServedSite, tmp_path: Path) -> None:
    assert_one_line_error(site.cli("member", "add", "nosuch", "x@council.example", check=False), "nosuch")
    assert_one_line_error(site.cli("member", "add", "housing", "not-an-address", check=False), "not-an-address")
    assert_one_line_error(site.cli("community", "create", "housing", "--name", "Again", check=False), "already exists")
    assert_one_line_error(site.cli("community", "create", "Bad Slug!", "--name", "x", check=False), "Bad Slug!")
    assert_one_line_error(site.cli("member", "import", "housing", str(tmp_path / "missing.csv"), check=False),
                          "missing.csv")

    broken = tmp_path / "broken.toml"
    broken.write_text('[site]\nmail_domain = "lists.example.org"\n')
    result = subprocess.run([sys.executable, "-m", "listbridge", "--config", str(broken), "init"],
                            capture_output=True, text=True)
    assert_one_line_error(result, "secret_key")

    result = subprocess.run([sys.executable, "-m", "listbridge", "--config", str(tmp_path / "nope.toml"), "init"],
                            capture_output=True, text=True)
    assert_one_line_error(result, "nope.toml")


def test_config_from_the_environment(site: ServedSite) -> None:
    env = {"LISTBRIDGE_CONFIG": str(site.config), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "listbridge", "community", "list"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("housing\tHousing Advice")


def test_member_import_names_every_bad_row_and_is_idempotent(site: ServedSite, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name,role,delivery\nok@council.example,Ok,,\nnope,No,,\n"
                   "x@council.example,X,boss,each\ny@council.example,Y,member,hourly\n")
    result = site.cli("member", "import", "housing", str(bad), check=False)
    assert_one_line_error(result, "line 3", "line 4", "line 5", "nothing imported")
    assert "housing\tHousing Advice\tpublic\tmembers\t0 members" in site.cli("community", "list").stdout

    good = tmp_path / "good.csv"
    good.write_text("email,name,role,delivery\n" + "".join(f"m{i}@council.example,M {i},,daily\n" for i in range(50)))
    assert "50 added" in site.cli("member", "import", "housing", str(good)).stdout
    assert "0 added, 0 updated, 50 unchanged" in site.cli("member", "import", "housing", str(good)).stdout
