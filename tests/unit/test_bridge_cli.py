"""``listbridge bridge link|unlink|list``: what an operator types and reads."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from listbridge.cli import main


def test_link_list_and_unlink(tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "listbridge.toml"
    config.write_text(
        f'[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef0123"\n'
        f'[database]\nurl = "{db_url}"\n'
        '[slack]\nbot_token = "xoxb-test"\nsigning_secret = "secret"\n'
        '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@relay:example.org"\n'
        'access_token = "token"\n'
    )
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(config), *args])
        return result.exit_code, result.output

    assert run("init")[0] == 0
    assert run("community", "create", "housing", "--name", "Housing")[0] == 0
    assert run("bridge", "link", "housing", "slack", "C0123ABCD") == (0, "linked housing to slack C0123ABCD\n")
    assert run("bridge", "link", "housing", "matrix", "!room:example.org")[0] == 0
    # A channel name or a mistyped id is refused in one line, before the bridge posts anywhere.
    for platform, channel, hint in (
        ("slack", "#general", "not its name"),
        ("slack", "c0123abcd", "like C0123ABCD"),
        ("matrix", "#housing:example.org", "not an alias"),
        ("matrix", "room:example.org", "starts with !"),
    ):
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


def test_a_platform_registered_by_its_own_module_is_offered_and_linked(
    tmp_path: Path, db_url: str, loopback: object
) -> None:
    """A platform is its module and its registration: the command offers it, checks its
    channel ids by its rule and asks its settings whether the site has set it up."""
    config = tmp_path / "listbridge.toml"
    site = (
        f'[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef0123"\n'
        f'[database]\nurl = "{db_url}"\n'
    )
    config.write_text(site)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(config), *args])
        return result.exit_code, result.output

    assert run("init")[0] == 0 and run("community", "create", "housing", "--name", "Housing")[0] == 0
    assert "{slack|matrix|loopback}" in run("bridge", "link", "--help")[1]
    code, output = run("bridge", "link", "housing", "irc", "loop-1")
    assert code == 1 and "'irc' is not one of 'slack', 'matrix', 'loopback'" in output
    assert run("bridge", "link", "housing", "loopback", "loop-1") == (
        1,
        "listbridge: error: Loopback is not set up on this site: setting [loopback] enabled is false\n",
    )
    config.write_text(site + "[loopback]\nenabled = true\n")
    assert run("bridge", "link", "housing", "loopback", "loop one") == (
        1,
        "listbridge: error: A loopback channel ID is loop- and a number, like loop-1\n",
    )
    assert run("bridge", "link", "housing", "loopback", "loop-1") == (0, "linked housing to loopback loop-1\n")
    assert run("bridge", "list") == (0, "housing\tloopback\tloop-1\n")
    assert run("bridge", "unlink", "housing", "loopback", "loop-1") == (0, "unlinked housing from loopback loop-1\n")
