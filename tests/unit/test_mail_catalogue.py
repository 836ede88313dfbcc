"""Mail's message catalogue (forum/translations, domain ``mail``): complete in Welsh, in step
with the source, and no digest template text left out of it; and how a mail's language is
chosen. Compiled here from its ``.po``, so no compiled file kept anywhere can make these pass.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

from forum.catalogues import compile_catalogues
from forum.mail_language import TRANSLATIONS, gathered_language, long_date, mail_language, translations
from tests.web.test_catalogue import escaped_text

ROOT = Path(__file__).resolve().parents[2]
WELSH = TRANSLATIONS / "cy" / "LC_MESSAGES" / "mail.po"
UPDATE = "run the mail catalogue's pybabel extract and update commands of README.md (Translations)"


def catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale="cy" if path.suffix == ".po" else None)


def source_messages() -> set[object]:
    """The message ids ``pybabel extract`` finds in mail's source today, as babel-mail.cfg says."""
    with (ROOT / "babel-mail.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
    found = extract_from_dir(ROOT, method_map, options_map, keywords=keywords)
    return {message if isinstance(message, str) else tuple(message) for _, _, message, _, _ in found}


def test_every_welsh_mail_message_is_translated_and_none_is_fuzzy() -> None:
    welsh = catalog(WELSH)
    assert not welsh.fuzzy and welsh.num_plurals == 6
    missing = [
        m.id for m in welsh if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    ]
    assert not missing, f"{len(missing)} Welsh messages untranslated or fuzzy: {missing[:10]}"
    problems = [(message.id, [str(e) for e in errors]) for message, errors in welsh.check()]
    assert not problems, f"translations whose placeholders differ from the English: {problems[:5]}"


def test_the_mail_catalogues_hold_exactly_the_messages_of_the_source() -> None:
    wanted = source_messages()
    template = {m.id for m in catalog(TRANSLATIONS / "mail.pot") if m.id}
    welsh = {m.id for m in catalog(WELSH) if m.id}
    assert "View on the web" in wanted and "Daily digest" in wanted, "footers and digests are extracted"
    assert template == wanted, (
        f"mail.pot is stale ({UPDATE}): new {sorted(map(str, wanted - template))[:5]}, "
        f"gone {sorted(map(str, template - wanted))[:5]}"
    )
    assert welsh == wanted, f"the Welsh mail catalogue is stale ({UPDATE})"


def test_no_digest_template_text_escapes_the_catalogue() -> None:
    env = Environment(extensions=["jinja2.ext.i18n"])
    templates = sorted((ROOT / "digest" / "templates").glob("*"))
    assert len(templates) == 2
    escaped = {path.name: text for path in templates if (text := escaped_text(path.read_text(encoding="utf-8"), env))}
    assert not escaped, f"text outside _() and trans blocks: {escaped}"


def test_the_welsh_mail_catalogue_compiles_and_mail_speaks_it(tmp_path: Path) -> None:
    [compiled] = compile_catalogues(TRANSLATIONS, tmp_path)
    assert compiled == tmp_path / "cy" / "LC_MESSAGES" / "mail.mo"
    welsh = Translations.load(str(tmp_path), ["cy"], "mail")
    assert welsh.gettext("View on the web") == "Gweld ar y we"
    assert translations("cy").gettext("Leave %(name)s") % {"name": "Tai"} == "Gadael Tai"
    assert translations("en").gettext("Leave %(name)s") == "Leave %(name)s"
    assert translations("bilingual").gettext("View on the web") == "Gweld ar y we / View on the web"
    both = translations("bilingual").ngettext("%(shown)s thread", "%(shown)s threads", 3)
    assert both % {"shown": 3} == "3 edefyn / 3 threads"


def test_a_members_choice_wins_then_the_communitys() -> None:
    assert mail_language("cy", "en") == "cy" and mail_language("en", "bilingual") == "en"
    assert mail_language(None, "cy") == "cy" and mail_language(None, "bilingual") == "bilingual"
    assert mail_language(None, "fr") == "en" and mail_language("de", None) == "en"
    assert gathered_language(None, ["cy", "cy"]) == "cy" and gathered_language(None, ["cy", "en"]) == "bilingual"
    assert gathered_language("en", ["cy"]) == "en" and gathered_language(None, ["bilingual"]) == "bilingual"


def test_dates_are_written_in_the_mails_language() -> None:
    day = date(2026, 12, 7)
    assert long_date(day, "en") == "Monday 7 December 2026"
    assert long_date(day, "cy") == long_date(day, "bilingual") == "Dydd Llun 7 Rhagfyr 2026"
