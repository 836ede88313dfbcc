"""The web's message catalogues: complete in Welsh, in step with the source, and nothing the
pages say left out of them.

The catalogue is compiled here from its ``.po`` (as the app does when it starts), so no
compiled file kept anywhere can make these pass.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from forum.catalogues import compile_catalogues
from web.i18n import TRANSLATIONS

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
WELSH = TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.po"
UPDATE = "run the pybabel extract and update commands of README.md (Translations), then translate what they add"
GETTEXT = {"_", "gettext", "ngettext"}
SPOKEN = ("aria-label", "title", "alt", "placeholder")  # attributes people hear or see
TEXT = re.compile(r"[A-Za-z]{2,}")


def catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale="cy" if path.suffix == ".po" else None)


def source_messages() -> set[object]:
    """The message ids ``pybabel extract`` finds in the source today, as babel.cfg says."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "N_": None}
    found = extract_from_dir(ROOT, method_map, options_map, keywords=keywords)
    return {message if isinstance(message, str) else tuple(message) for _, _, message, _, _ in found}


def test_every_welsh_message_is_translated_and_none_is_fuzzy() -> None:
    welsh = catalog(WELSH)
    assert not welsh.fuzzy and welsh.num_plurals == 6
    missing = [
        m.id for m in welsh if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    ]
    assert not missing, f"{len(missing)} Welsh messages untranslated or fuzzy: {missing[:10]}"
    problems = [(message.id, [str(e) for e in errors]) for message, errors in welsh.check()]
    assert not problems, f"translations whose placeholders differ from the English: {problems[:5]}"
    assert len(welsh) > 300


def test_the_catalogues_hold_exactly_the_messages_of_the_source() -> None:
    wanted = source_messages()
    template = {m.id for m in catalog(TRANSLATIONS / "messages.pot") if m.id}
    welsh = {m.id for m in catalog(WELSH) if m.id}
    assert template == wanted, (
        f"messages.pot is stale ({UPDATE}): new {sorted(map(str, wanted - template))[:5]}, "
        f"gone {sorted(map(str, template - wanted))[:5]}"
    )
    assert welsh == wanted, f"the Welsh catalogue is stale ({UPDATE})"


def test_the_welsh_catalogue_compiles_and_the_app_serves_it(tmp_path: Path) -> None:
    [compiled] = compile_catalogues(TRANSLATIONS, tmp_path)
    assert compiled == tmp_path / "cy" / "LC_MESSAGES" / "messages.mo" and compiled.stat().st_size > 10_000
    assert compile_catalogues(TRANSLATIONS, tmp_path) == [], "a fresh .mo is not compiled again"
    from babel.support import Translations

    welsh = Translations.load(str(tmp_path), ["cy"])
    assert welsh.gettext("Sign in") == "Mewngofnodi"
    assert welsh.ngettext("%(num)s byte", "%(num)s bytes", 2) == "%(num)s beit"


class _Page(HTMLParser):
    """Text outside trans blocks (each Jinja expression is NUL, each tag a space): what has letters."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [
            f'{name}="{value}"'
            for name, value in attrs
            if name in SPOKEN and value and TEXT.search(value.replace("\0", ""))
        ]

    def handle_data(self, data: str) -> None:
        if TEXT.search(text := data.replace("\0", "").strip()):
            self.found.append(text)


def escaped_text(source: str, env: Environment) -> list[str]:
    """Text of a template that no gettext call or trans block carries."""
    pieces, in_trans, block_start = [], False, False
    for _, kind, value in env.lex(source):
        if kind == "whitespace":
            continue
        if block_start and kind == "name":
            in_trans = {"trans": True, "pluralize": True, "endtrans": False}.get(value, in_trans)
        block_start = kind == "block_begin"
        if kind == "data" and not in_trans:
            pieces.append(value)
        elif kind == "block_begin":
            pieces.append(" ")
        elif kind == "variable_begin":
            pieces.append("\0")
    page = _Page()
    page.feed("".join(pieces))
    words = [found for found in page.found if not found.startswith("xml version")]
    return words + _literal_text(env.parse(source))


def _literal_text(tree: nodes.Node) -> list[str]:
    """String literals a template shows: passed to a macro ("Approve"), joined with ~, or output."""
    shown: list[nodes.Node] = []
    for call in tree.find_all(nodes.Call):
        if not (isinstance(call.node, nodes.Name) and call.node.name in GETTEXT):
            shown += [*call.args, *(keyword.value for keyword in call.kwargs)]
    for node in tree.find_all((nodes.Concat, nodes.Output, nodes.CondExpr)):
        shown += list(node.iter_child_nodes())
    return [
        const.value
        for const in shown
        if isinstance(const, nodes.Const)
        and isinstance(const.value, str)
        and (re.search(r"[A-Za-z]+ [A-Za-z]+", const.value) or re.fullmatch(r"[A-Z][a-z]+", const.value))
    ]


def test_no_template_text_escapes_the_catalogue() -> None:
    env = Environment(extensions=["jinja2.ext.i18n"])
    templates = sorted(WEB.glob("**/templates/**/*.html")) + sorted(WEB.glob("**/templates/**/*.xml"))
    assert len(templates) > 30
    escaped = {
        str(path.relative_to(ROOT)): text
        for path in templates
        if (text := escaped_text(path.read_text(encoding="utf-8"), env))
    }
    assert not escaped, f"text outside _() and trans blocks: {escaped}"


def test_the_extraction_check_finds_text_left_out() -> None:
    env = Environment(extensions=["jinja2.ext.i18n"])
    assert escaped_text('<p>Hello {{ name }}</p><nav aria-label="Pages">{{ _("Next") }}</nav>', env) == [
        "Hello",
        'aria-label="Pages"',
    ]
    assert escaped_text('{{ forms.button(url, "Approve", {"action": "approve"}, "secondary") }}', env) == ["Approve"]
    assert (
        escaped_text('{% trans n=1 %}One {{ n }}{% pluralize %}Many {{ n }}{% endtrans %}<p>{{ _("Hi") }}</p>', env)
        == []
    )


# Calls whose text a person reads, and how many of their first arguments are that text.
USER_FACING = {"flash": 1, "message_page": 2, "ValidationError": 1, "append": 1}


def test_python_gives_people_no_untranslated_literal() -> None:
    untranslated = []
    for path in sorted(WEB.rglob("*.py")):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call):
                continue
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            if name not in USER_FACING or (name == "append" and "errors" not in ast.unparse(call.func)):
                continue
            literal = [
                arg
                for arg in call.args[: USER_FACING[name]]
                if isinstance(arg, ast.JoinedStr) or (isinstance(arg, ast.Constant) and isinstance(arg.value, str))
            ]
            if literal:
                untranslated.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call)[:80]}")
    assert not untranslated, "\n".join(untranslated)
