"""``listbridge bridge link|unlink|list``: what an operator types and reads."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from listbridge.cli import main


def test_link_list_and_unlink(tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "listbridge.toml"
    config.write_text(f'[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef0123"\n'
                      f'[database]\nurl = "{db_url}"\n'
                      '[slack]\nbot_token = "xoxb-test"\nsigning_secret = "secret"\n'
                      '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@relay:example.org"\n'
                      'access_token = "token"\n')
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(config), *args])
        return result.exit_code, result.output

    assert run("init")[0] == 0
    assert run("community", "create", "housing", "--name", "Housing")[0] == 0
    assert run("bridge", "link", "housing", "slack", "C0123ABCD") == (0, "linked housing to slack C0123ABCD\n")
    assert run("bridge", "link", "housing", "matrix", "!room:example.org")[0] == 0
    # A channel name or a mistyped id is refused in one line, before the bridge posts anywhere.
    for platform, channel, hint in (("slack", "#general", "not its name"), ("slack", "c0123abcd", "like C0123ABCD"),
                                    ("matrix", "#housing:example.org", "not an alias"),
                                    ("matrix", "room:example.org", "starts with !")):
        code, output = run("bridge", "link", "housing", platform, channel)
        assert code == 1 and output.startswith("listbridge: error: ") and hint in output
        assert output.count("\n") == 1
    assert run("bridge", "list") == (0, "housing\tmatrix\t!room:example.org\nhousing\tslack\tC0123ABCD\n")
    code, output = run("bridge", "link", "nowhere", "slack", "C0999ZZZZ")
    assert code == 1 and 'there is no community "nowhere"' in output
    assert run("bridge", "unlink", "housing", "slack", "C0123ABCD") == (0, "unlinked housing from slack C0123ABCD\n")
    code, output = run("bridge", "unlink", "housing", "slack", "C0123ABCD")
    assert code == 1 and "housing is not linked to slack channel C0123ABCD" in output
    assert run("bridge", "list", "housing") == (0, "housing\tmatrix\t!room:example.org\n")
    code, output = run("bridge", "matrix-registration")  # Matrix puppets are not configured here
    assert code == 1 and output.startswith("listbridge: error: setting [matrix] user_id, appservice_token and hs_token")
