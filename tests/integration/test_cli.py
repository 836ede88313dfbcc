"""The command line as an operator meets it: one readable line and a non-zero exit for
every mistake, and commands that are safe to repeat."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionMaker

from forum import browser_sessions
from forum.access import user_by_email
from forum.db import make_engine, make_sessionmaker
from forum.models import Community, User, UserEmail
from tests.integration.served import ServedSite
from tests.support import browser_session

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> ServedSite:
    site = ServedSite(tmp_path, db_url, smarthost_port=25)
    site.cli("init")
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    return site


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """The README's rule for every mistake: one line on stderr, ``listbridge: error: …``, status 1."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("listbridge: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def test_mistakes_give_one_readable_line(site: ServedSite, tmp_path: Path) -> None:
    assert_one_line_error(site.cli("member", "add", "nosuch", "x@council.example", check=False), "nosuch")
    assert_one_line_error(site.cli("member", "add", "housing", "not-an-address", check=False), "not-an-address")
    assert_one_line_error(site.cli("community", "create", "housing", "--name", "Again", check=False), "already exists")
    assert_one_line_error(site.cli("community", "create", "Bad Slug!", "--name", "x", check=False), "Bad Slug!")
    assert_one_line_error(
        site.cli("member", "import", "housing", str(tmp_path / "missing.csv"), check=False), "missing.csv"
    )

    broken = tmp_path / "broken.toml"
    broken.write_text('[site]\nmail_domain = "lists.example.org"\n')
    result = subprocess.run(
        [sys.executable, "-m", "listbridge", "--config", str(broken), "init"], capture_output=True, text=True
    )
    assert_one_line_error(result, "secret_key")

    result = subprocess.run(
        [sys.executable, "-m", "listbridge", "--config", str(tmp_path / "nope.toml"), "init"],
        capture_output=True,
        text=True,
    )
    assert_one_line_error(result, "nope.toml")


def test_config_from_the_environment(site: ServedSite) -> None:
    env = {"LISTBRIDGE_CONFIG": str(site.config), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "listbridge", "community", "list"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("housing\tHousing Advice")


def test_member_import_names_every_bad_row_and_is_idempotent(site: ServedSite, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,name,role,delivery\nok@council.example,Ok,,\nnope,No,,\n"
        "x@council.example,X,boss,each\ny@council.example,Y,member,hourly\nworse,W,chief,monthly\n"
    )
    result = site.cli("member", "import", "housing", str(bad), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith(f"listbridge: error: {bad}: ") for line in lines), lines
    # One line per bad row, with every problem of that row, then what happened.
    assert [line.split(": ")[3] for line in lines[:-1]] == ["line 3", "line 4", "line 5", "line 6"]
    assert "role must be one of" in lines[3] and "delivery must be one of" in lines[3] and "'worse'" in lines[3]
    assert lines[-1].endswith("4 bad row(s), nothing imported")
    assert "housing\tHousing Advice\tpublic\tmembers\t0 members" in site.cli("community", "list").stdout

    good = tmp_path / "good.csv"
    good.write_text("email,name,role,delivery\n" + "".join(f"m{i}@council.example,M {i},,daily\n" for i in range(50)))
    assert "50 added" in site.cli("member", "import", "housing", str(good)).stdout
    assert "0 added, 0 updated, 50 unchanged" in site.cli("member", "import", "housing", str(good)).stdout


def test_usage_mistakes_follow_the_same_rule(site: ServedSite) -> None:
    """Click's own errors (three lines and status 2 by default) are one line and status 1 too."""
    for args, words in [
        (("held", "approve", "abc"), ("'abc' is not a valid integer", "listbridge held approve --help")),
        (("bridge", "link", "housing", "irc", "C0123ABCD"), ("'irc' is not one of 'slack', 'matrix'",)),
        (("member", "add", "housing"), ("Missing argument 'EMAIL'",)),
        (("community", "list", "--bogus"), ("No such option '--bogus'",)),
        (("member",), ("'listbridge member' needs a command", "list", "remove")),
        (("nosuch",), ("No such command 'nosuch'",)),
    ]:
        assert_one_line_error(site.cli(*args, check=False), *words)
    assert site.cli("--help").returncode == 0


def test_a_bridge_this_site_has_not_set_up_is_refused(site: ServedSite) -> None:
    assert_one_line_error(
        site.cli("bridge", "link", "housing", "slack", "C0123ABCD", check=False),
        "Slack is not set up on this site",
        "[slack] bot_token",
    )
    assert_one_line_error(
        site.cli("bridge", "link", "housing", "matrix", "!abc:example.org", check=False),
        "Matrix is not set up on this site",
        "[matrix] homeserver",
    )
    assert site.cli("bridge", "list").stdout == ""


def test_community_names_and_addresses(site: ServedSite) -> None:
    assert_one_line_error(site.cli("community", "create", "garden", "--name", " ", check=False), "name is empty")
    assert_one_line_error(
        site.cli("community", "create", "Housing", "--name", "Again", check=False),
        '"Housing" has capitals',
        'use "housing"',
    )
    assert_one_line_error(site.cli("community", "create", "Garden", "--name", "Garden", check=False), 'use "garden"')
    assert site.cli("community", "list").stdout.splitlines() == [
        "housing\tHousing Advice\tpublic\tmembers\t0 members\t-"
    ]


def test_community_edit(site: ServedSite) -> None:
    edited = site.cli(
        "community",
        "edit",
        "housing",
        "--name",
        "Housing Officers",
        "--policy",
        "moderated",
        "--subject-prefix",
        "[housing]",
    )
    assert (
        edited.stdout == "housing: name 'Housing Officers', public, posting: moderated, subject prefix '[housing]', "
        "language: en, category ''\n"
    )
    assert site.cli("community", "edit", "housing", "--description", "For officers").returncode == 0
    assert site.cli("community", "list").stdout.startswith("housing\tHousing Officers\tpublic\tmoderated\t")
    assert_one_line_error(site.cli("community", "edit", "housing", check=False), "nothing to change")
    assert_one_line_error(site.cli("community", "edit", "housing", "--name", "", check=False), "name is empty")
    assert_one_line_error(site.cli("community", "edit", "nosuch", "--name", "X", check=False), '"nosuch"')


def test_community_posting_rules(site: ServedSite) -> None:
    created = site.cli("community", "create", "news", "--name", "News", "--policy", "announce", "--moderate-new", "2")
    assert created.stdout == (
        "created news (public, posting: announce, language: en, a new member's first 2 posts reviewed): "
        "news@lists.example.org\n"
    )
    edited = site.cli("community", "edit", "housing", "--policy", "announce", "--moderate-new", "3").stdout
    assert edited.endswith(
        "posting: announce, subject prefix '', language: en, category '', a new member's first 3 posts reviewed\n"
    )
    assert site.cli("community", "edit", "housing", "--moderate-new", "1").stdout.endswith("first post reviewed\n")
    assert site.cli("community", "edit", "housing", "--moderate-new", "0").stdout.endswith("category ''\n")
    assert_one_line_error(
        site.cli("community", "edit", "housing", "--moderate-new", "-1", check=False), "0 (none) to 100, not -1"
    )
    assert_one_line_error(
        site.cli("community", "create", "x", "--name", "X", "--moderate-new", "500", check=False), "not 500"
    )
    with database(site) as sessions, sessions() as session:
        found = {c.slug: (c.posting_policy.value, c.moderate_new) for c in session.scalars(select(Community))}
    assert found == {"housing": ("announce", 0), "news": ("announce", 2)}


def languages(site: ServedSite) -> dict[str, str | None]:
    """Each member's language, by address, as the web reads it to choose their pages' language."""
    with database(site) as sessions, sessions() as session:
        return dict(
            session.execute(select(UserEmail.email, User.language).join(User, User.id == UserEmail.user_id)).all()
        )


def test_members_language_from_add_and_import(site: ServedSite, tmp_path: Path) -> None:
    added = site.cli("member", "add", "housing", "bob@council.example", "--name", "Bob", "--language", "cy")
    assert added.stdout == "added bob@council.example in housing (member, delivery each, language cy)\n"
    site.cli("member", "add", "housing", "bob@council.example", "--role", "moderator")  # no --language: kept
    site.cli("member", "add", "housing", "ann@council.example")
    assert languages(site) == {"bob@council.example": "cy", "ann@council.example": None}
    assert_one_line_error(
        site.cli("member", "add", "housing", "cai@council.example", "--language", "fr", check=False),
        "'fr' is not one of 'cy', 'en'",
    )

    sheet = tmp_path / "members.csv"
    sheet.write_text(
        "email,name,language\nann@council.example,Ann,EN\ncai@council.example,Cai,cy\ndai@council.example,Dai,\n"
    )
    assert "2 added, 1 updated, 0 unchanged" in site.cli("member", "import", "housing", str(sheet)).stdout
    assert languages(site) == {
        "bob@council.example": "cy",
        "ann@council.example": "en",
        "cai@council.example": "cy",
        "dai@council.example": None,
    }
    assert "0 added, 0 updated, 3 unchanged" in site.cli("member", "import", "housing", str(sheet)).stdout
    assert (
        "cai@council.example,Cai,member,each,active,cy"
        in site.cli("member", "list", "housing", "--format", "csv").stdout
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("email,language\neve@council.example,fr\n")
    refused = site.cli("member", "import", "housing", str(bad), check=False)
    assert refused.returncode == 1 and 'line 2: "fr" is not a language we offer: use cy or en\n' in refused.stderr


def test_community_language(site: ServedSite) -> None:
    created = site.cli("community", "create", "tai", "--name", "Tai", "--language", "bilingual").stdout
    assert created == "created tai (public, posting: members, language: bilingual): tai@lists.example.org\n"
    assert site.cli("community", "edit", "housing", "--language", "cy").stdout.endswith("language: cy, category ''\n")
    assert_one_line_error(
        site.cli("community", "edit", "housing", "--language", "fr", check=False),
        "'fr' is not one of 'cy', 'en', 'bilingual'",
    )
    with database(site) as sessions, sessions() as session:
        found = dict(session.execute(select(Community.slug, Community.language)).all())
    assert found == {"housing": "cy", "tai": "bilingual"}


def members_csv(count: int) -> str:
    return "email,name,role,delivery\n" + "".join(f"m{i:05}@council.example,M {i},,daily\n" for i in range(count))


def test_member_list_round_trips_through_import(site: ServedSite, tmp_path: Path) -> None:
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(members_csv(2_000))
    site.cli("member", "import", "housing", str(csv_file))
    site.cli("member", "add", "housing", "ann@council.example", "--name", "Ann, Chair", "--role", "facilitator")
    text = site.cli("member", "list", "housing").stdout.splitlines()
    assert len(text) == 2_001
    assert text[0] == "ann@council.example\tfacilitator\teach\tactive\tAnn, Chair"
    exported = site.cli("member", "list", "housing", "--format", "csv").stdout
    assert exported.splitlines()[:2] == [
        "email,name,role,delivery,status,language,plain_text",
        'ann@council.example,"Ann, Chair",facilitator,each,active,,',
    ]
    site.cli("community", "create", "garden", "--name", "Garden")
    again = tmp_path / "exported.csv"
    again.write_text(exported)
    assert "2001 added" in site.cli("member", "import", "garden", str(again)).stdout
    assert site.cli("member", "list", "garden", "--format", "csv").stdout == exported
    assert_one_line_error(site.cli("member", "list", "nosuch", check=False), '"nosuch"')


def test_member_remove(site: ServedSite) -> None:
    site.cli("member", "add", "housing", "ann@council.example", "--role", "facilitator")
    site.cli("member", "add", "housing", "bob@council.example")
    site.cli("community", "create", "garden", "--name", "Garden")
    site.cli("member", "add", "garden", "bob@council.example")
    assert_one_line_error(
        site.cli("member", "remove", "housing", "ann@council.example", check=False), "needs at least one facilitator"
    )
    assert_one_line_error(
        site.cli("member", "remove", "housing", "eve@council.example", check=False),
        "eve@council.example is not a member of housing",
    )
    with database(site) as sessions:
        signed_in = browser_session(sessions, user_id(sessions, "bob@council.example"))
    assert (
        site.cli("member", "remove", "housing", "Bob@Council.example").stdout
        == "removed Bob@Council.example from housing\n"
    )
    assert signed_in_as(site, signed_in) == "bob@council.example", "still in Garden: still signed in"
    last = site.cli("member", "remove", "garden", "bob@council.example").stdout
    assert (
        last == "removed bob@council.example from garden; they are in no community now, so they are "
        "signed out of the web\n"
    )
    assert signed_in_as(site, signed_in) is None
    assert site.cli("member", "list", "housing").stdout == "ann@council.example\tfacilitator\teach\tactive\t\n"


@contextmanager
def database(site: ServedSite) -> Iterator[SessionMaker[Session]]:
    """The site's database, as the web reads it (disposed after: PostgreSQL is reset between tests)."""
    engine = make_engine(site.db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def user_id(sessions: SessionMaker[Session], address: str) -> int:
    with sessions() as session:
        user = user_by_email(session, address)
        assert user is not None
        return user.id


def signed_in_as(site: ServedSite, key: str) -> str | None:
    """Whom a browser with this session key is signed in as, as the web asks on every request."""
    with database(site) as sessions, sessions() as session:
        user = browser_sessions.user_of(session, key)
        return user.emails[0].email if user is not None else None


def test_community_delete_saves_the_archive_and_members_first(site: ServedSite, tmp_path: Path) -> None:
    site.cli("member", "add", "housing", "ann@council.example", "--name", "Ann", "--role", "facilitator")
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(
        b"From ann@council.example Mon Jan  3 10:00:00 2005\nFrom: Ann <ann@council.example>\n"
        b"Subject: Damp in flats\nMessage-ID: <damp@council.example>\n\nWho has a surveyor?\n"
    )
    site.cli("import", "housing", str(mbox))
    refused = site.cli("community", "delete", "housing", check=False)
    assert_one_line_error(refused, "--yes")
    assert site.cli("community", "list").stdout.startswith("housing\t")

    done = site.cli("community", "delete", "housing", "--yes").stdout
    match = re.fullmatch(r"deleted housing; saved first: its archive in (\S+), its 1 member\(s\) in (\S+)\n", done)
    assert match, done
    saved_mbox, saved_csv = Path(match.group(1)), Path(match.group(2))
    beside = tmp_path if site.db_url.startswith("sqlite") else tmp_path / "storage"
    assert saved_mbox.parent == beside and saved_csv.parent == beside
    assert b"Subject: Damp in flats" in saved_mbox.read_bytes() and saved_mbox.read_bytes().startswith(b"From ")
    assert saved_csv.read_text().splitlines() == [
        "email,name,role,delivery,status,language,plain_text",
        "ann@council.example,Ann,facilitator,each,active,,",
    ]
    assert site.cli("community", "list").stdout == ""
    assert_one_line_error(site.cli("member", "list", "housing", check=False), '"housing"')
    # What was saved brings it back.
    site.cli("community", "create", "housing", "--name", "Housing Advice")
    assert "1 added" in site.cli("member", "import", "housing", str(saved_csv)).stdout
    assert "1 imported" in site.cli("import", "housing", str(saved_mbox)).stdout


def test_every_command_is_in_help_and_the_readme(site: ServedSite) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Command line") :]
    section = section[: section.index("\n## ", 1)]
    for group, commands in [
        ("community", ["create", "list", "edit", "delete"]),
        ("member", ["add", "import", "invite", "list", "remove", "ban", "unban"]),
        ("site admin", ["add", "remove", "list"]),
    ]:
        listed = site.cli(*group.split(), "--help").stdout
        for command in commands:
            assert re.search(rf"^  {command}\b", listed, re.MULTILINE), f"{group} {command} not in --help"
            assert f"{group} {command}" in section, f"{group} {command} not in the README"


def test_community_categories(site: ServedSite) -> None:
    site.cli("community", "create", "tai", "--name", "Tai", "--category", "  Housing   advice ")
    assert site.cli("community", "edit", "housing", "--category", "housing ADVICE").stdout.endswith(
        "category 'Housing advice'\n"
    )  # joins the category as it is spelt already
    assert site.cli("community", "list").stdout.splitlines() == [
        "housing\tHousing Advice\tpublic\tmembers\t0 members\tHousing advice",
        "tai\tTai\tpublic\tmembers\t0 members\tHousing advice",
    ]
    assert site.cli("community", "edit", "tai", "--category", "").stdout.endswith("category ''\n")
    assert_one_line_error(
        site.cli("community", "create", "x", "--name", "X", "--category", "c" * 61, check=False), "at most 60"
    )
    assert_one_line_error(site.cli("community", "edit", "tai", "--category", "c" * 61, check=False), "at most 60")


def test_site_admins(site: ServedSite) -> None:
    assert site.cli("site", "admin", "list").stdout == ""
    assert (
        site.cli("site", "admin", "add", " Root@Council.example").stdout
        == "root@council.example is a site administrator\n"
    )
    assert site.cli("site", "admin", "add", "root@council.example").stdout == (
        "root@council.example is already a site administrator\n"
    )
    site.cli("member", "add", "housing", "ann@council.example", "--name", "Ann")
    site.cli("site", "admin", "add", "ann@council.example")
    assert site.cli("site", "admin", "list").stdout == "ann@council.example\tAnn\nroot@council.example\t\n"
    with database(site) as sessions, sessions() as session:
        root = user_by_email(session, "root@council.example")
        assert root is not None and root.is_site_admin  # an account made for a new address, to sign in with
    assert_one_line_error(site.cli("site", "admin", "add", "not-an-address", check=False), "not-an-address")
    assert_one_line_error(site.cli("site", "admin", "remove", "nobody@council.example", check=False), "not a site")
    assert_one_line_error(site.cli("site", "admin", check=False), "needs a command")
    removed = site.cli("site", "admin", "remove", "ann@council.example")
    assert removed.stdout == "ann@council.example is no longer a site administrator\n" and removed.stderr == ""
    last = site.cli("site", "admin", "remove", "root@council.example")
    assert last.returncode == 0 and "no administrator now" in last.stderr
    assert site.cli("site", "admin", "list").stdout == ""
    assert "ann@council.example" in site.cli("member", "list", "housing").stdout  # the account stays


def test_ban_unban_and_the_moderation_log(site: ServedSite) -> None:
    site.cli("member", "add", "housing", "bob@council.example", "--name", "Bob")
    assert site.cli("member", "ban", "housing", "Bob@Council.example", "--reason", "Abuse").stdout == (
        "banned bob@council.example from housing\n"
    )
    assert "bob@council.example\tmember\teach\tbanned\tBob" in site.cli("member", "list", "housing").stdout
    assert_one_line_error(site.cli("member", "ban", "housing", "bob@council.example", check=False), "already")
    assert_one_line_error(site.cli("member", "ban", "nosuch", "bob@council.example", check=False), "nosuch")
    assert site.cli("member", "unban", "housing", "bob@council.example").returncode == 0
    assert_one_line_error(site.cli("member", "unban", "housing", "bob@council.example", check=False), "not banned")
    assert "bob@council.example\tmember\teach\tactive\tBob" in site.cli("member", "list", "housing").stdout

    site.cli("community", "create", "garden", "--name", "Garden")
    site.cli("member", "ban", "garden", "spammer@example.net")
    everything = [line.split("\t") for line in site.cli("log").stdout.splitlines()]
    assert [(row[1], row[2], row[3], row[4], row[5]) for row in everything] == [
        ("garden", "(command line)", "ban", "spammer", ""),
        ("housing", "(command line)", "unban", "Bob", ""),
        ("housing", "(command line)", "ban", "Bob", "Abuse"),
    ]
    assert len(site.cli("log", "--community", "garden").stdout.splitlines()) == 1
    paged = site.cli("log", "--per-page", "2").stdout.splitlines()
    assert len(paged) == 3 and paged[-1] == "(page 1 of 2: --page 2 for more)"
    assert_one_line_error(site.cli("log", "--community", "nosuch", check=False), "nosuch")


def test_three_kinds_of_space_and_invitations(site: ServedSite, tmp_path: Path) -> None:
    assert (
        "(restricted,"
        in site.cli("community", "create", "lounge", "--name", "Lounge", "--visibility", "restricted").stdout
    )
    assert "(private," in site.cli("community", "create", "board", "--name", "Board", "--private").stdout
    assert_one_line_error(
        site.cli("community", "create", "x", "--name", "X", "--private", "--visibility", "public", check=False),
        "disagree",
    )
    assert (
        "lounge: name 'Lounge', private," in site.cli("community", "edit", "lounge", "--visibility", "private").stdout
    )
    listed = site.cli("community", "list").stdout
    assert "board\tBoard\tprivate\t" in listed and "lounge\tLounge\tprivate\t" in listed
    assert "housing\tHousing Advice\tpublic\t" in listed

    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@council.example,Ann\nnot an address,X\nbob@council.example,Bob\n")
    assert_one_line_error(site.cli("member", "invite", "board", str(people), check=False), "row 3")
    people.write_text("email,name\nann@council.example,Ann\nbob@council.example,Bob\n")
    first = site.cli("member", "invite", "board", str(people), "--expires-days", "3").stdout
    assert "invited ann@council.example to board (the link works for 3 days)" in first
    again = site.cli("member", "invite", "board", "ann@council.example").stdout
    assert "already has an invitation to board waiting: nothing sent" in again
    assert_one_line_error(
        site.cli("member", "invite", "board", "cem@council.example", "--expires-days", "365", check=False), "90"
    )


def test_person_import_names_every_bad_row_and_is_idempotent(site: ServedSite, tmp_path: Path) -> None:
    for who in ("mo", "ted"):
        site.cli("member", "add", "housing", f"{who}@council.example")
    bad = tmp_path / "people.csv"
    bad.write_text(
        "email,name,organisation,job_title,region,expertise\n"
        "mo@council.example,Morwenna Quillfeather,Ceredigion County Council,EHO,Wales,damp and mould;HHSRS\n"
        "nope,No,,,,\n"
        "stranger@council.example,Stranger,,,,\n"
        f"ted@council.example,Ted,{'x' * 201},,,a;{'b' * 101}\n"
    )
    result = site.cli("person", "import", str(bad), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith(f"listbridge: error: {bad}: ") for line in lines), lines
    assert [line.split(": ")[3] for line in lines[:-1]] == ["line 3", "line 4", "line 5"]
    assert "'nope'" in lines[0] and "not a member of any community" in lines[1]
    assert "organisation is longer than 200" in lines[2] and "expertise is longer than 100" in lines[2]
    assert lines[-1].endswith("3 bad row(s), nothing imported")
    assert "organisation: \n" in site.cli("person", "show", "mo@council.example").stdout  # nothing imported

    good = tmp_path / "good.csv"
    good.write_text(
        "email,name,organisation,job_title,region,expertise\n"
        "mo@council.example,Morwenna Quillfeather,Ceredigion County Council,EHO,Wales,damp and mould; HHSRS\n"
        "ted@council.example,Tedric Brackenbury,Leeds City Council,,Yorkshire,Damp and Mould\n"
    )
    assert "2 updated, 0 unchanged" in site.cli("person", "import", str(good)).stdout
    assert "0 updated, 2 unchanged" in site.cli("person", "import", str(good)).stdout
    shown = site.cli("person", "show", "ted@council.example").stdout
    # One area, as Mo first named it: the list is shared and folds case.
    assert "name: Tedric Brackenbury\norganisation: Leeds City Council\n" in shown
    assert "expertise: damp and mould\n" in shown and "seen by: shared\n" in shown
