"""``listbridge bridge link|unlink|list``: what an operator types and reads."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from listbridge.cli import main


def test_link_list_and_unlink(tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "listbridge.toml"
    config.write_text(f'[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef0123"\n'
                      f'[database]\nurl = "{db_url}"\n')
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(config), *args])
        return result.exit_code, result.output

    assert run("init")[0] == 0
    assert run("community", "create", "housing", "--name", "Housing")[0] == 0
    assert run("bridge", "link", "housing", "slack", "C0123") == (0, "linked housing to slack C0123\n")
    assert run("bridge", "link", "housing", "matrix", "!room:example.org")[0] == 0
    assert run("bridge", "list") == (0, "housing\tmatrix\t!room:example.org\nhousing\tslack\tC0123\n")
    code, output = run("bridge", "link", "nowhere", "slack", "C9")
    assert code == 1 and 'there is no community "nowhere"' in output
    assert run("bridge", "unlink", "housing", "slack", "C0123") == (0, "unlinked housing from slack C0123\n")
    code, output = run("bridge", "unlink", "housing", "slack", "C0123")
    assert code == 1 and "housing is not linked to slack channel C0123" in output
    assert run("bridge", "list", "housing") == (0, "housing\tmatrix\t!room:example.org\n")
