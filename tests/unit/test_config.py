"""Settings: what an operator sees when the configuration file is wrong, and the example file."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import MISSING
from pathlib import Path

import pytest

from forum import config
from forum.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "listbridge.toml"
    path.write_text(text)
    return path


def test_missing_secret_key_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\nmail_domain = "lists.example.org"\n')
    with pytest.raises(ConfigError, match=r"\[site\] secret_key"):
        config.load(path)


def test_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef"\nsecrte_key = "typo"\n'
    )
    with pytest.raises(ConfigError, match=r"unknown setting \[site\] secrte_key"):
        config.load(path)


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n[smtp]\nport = 25\n')
    with pytest.raises(ConfigError, match=r"unknown section \[smtp\]"):
        config.load(path)


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n[web]\nport = "80"\n')
    with pytest.raises(ConfigError, match=r"\[web\] port must be a whole number"):
        config.load(path)


def test_web_workers_without_a_request_thread_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n[web]\nthreads = 0\n')
    with pytest.raises(ConfigError, match=r"\[web\] threads must be at least 1"):
        config.load(path)


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ("edit_window_minutes = -5", r"\[posting\] edit_window_minutes must be 0 \(no editing\) or more"),
        ("reports_per_hour = 0", r"\[posting\] reports_per_hour must be at least 1"),
    ],
)
def test_posting_limits_that_cannot_work_are_refused(tmp_path: Path, setting: str, error: str) -> None:
    path = write(tmp_path, f'[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n[posting]\n{setting}\n')
    with pytest.raises(ConfigError, match=error):
        config.load(path)


def test_an_operator_that_is_not_an_address_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n'
        'operators = ["ops@council.example", "Ops Team"]\n',
    )
    with pytest.raises(ConfigError, match=r"\[site\] operators: 'Ops Team' is not an email address"):
        config.load(path)


def test_relative_paths_are_resolved_against_the_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    path = write(
        site_dir,
        '[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n'
        '[database]\nurl = "sqlite:///db/forum.db"\n[storage]\npath = "blobs"\n',
    )
    monkeypatch.chdir(tmp_path)
    settings = config.load(path)
    assert settings.database.url == f"sqlite:///{site_dir.resolve() / 'db' / 'forum.db'}"
    assert settings.storage_path == site_dir.resolve() / "blobs"


def test_absolute_sqlite_path_is_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[site]\nmail_domain = "x.org"\nsecret_key = "0123456789abcdef"\n'
        '[database]\nurl = "sqlite:////var/lib/listbridge/forum.db"\n',
    )
    assert config.load(path).database.url == "sqlite:////var/lib/listbridge/forum.db"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


def test_example_documents_every_declared_setting_with_its_help_and_default() -> None:
    """The example is what newcomers copy: a setting missing from it is a setting nobody finds."""
    text = EXAMPLE.read_text()
    example = tomllib.loads(text)
    declared = {(section, key) for section, key, _, _ in config.declared_keys()}
    documented = {(section, key) for section, table in example.items() for key in table}
    assert sorted(declared - documented) == [], "declared but missing from config.example.toml"
    assert sorted(documented - declared) == [], "in config.example.toml but not declared"
    for section, key, default, help_text in config.declared_keys():
        assert f"# {help_text}" in text, f"[{section}] {key}: help text missing as a comment"
        if default is not MISSING:
            assert example[section][key] == default, f"[{section}] {key}: example differs from the default"


def test_example_sections_are_in_declaration_order() -> None:
    example = tomllib.loads(EXAMPLE.read_text())
    assert list(example) == list(config.sections())


def test_example_loads() -> None:
    settings = config.load(EXAMPLE)
    assert settings.site.mail_domain == "lists.example.org"
    assert settings.database.url == f"sqlite:///{EXAMPLE.parent / 'listbridge.db'}"


def test_a_host_without_time_zone_files_still_knows_the_zones(tmp_path: Path) -> None:
    """Slim container images and Windows have no zone files of their own: the tzdata
    package stands in, so a site set up there knows the digest's zone and its members'."""
    path = write(
        tmp_path,
        '[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef"\n'
        '[digest]\ntimezone = "America/New_York"\n',
    )
    done = subprocess.run(
        [sys.executable, "-m", "listbridge", "--config", str(path), "init"],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONTZPATH": ""},
        timeout=120,
    )  # no zone files searched
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("database upgraded to revision")
