"""The web in Welsh and English: which language a request is served in, and its catalogues.

A visitor's explicit choice wins (``?lang=cy`` on any page, then remembered in a cookie);
then a signed-in member's profile language; then the browser's ``Accept-Language``;
English otherwise. English is the source language, so only Welsh has a catalogue:
``web/translations/cy/LC_MESSAGES/messages.po``. The compiled ``.mo`` is not kept in the
repository: :func:`compiled_translations` builds it when the app starts, whenever it is
missing or older than its ``.po`` (:mod:`forum.catalogues`), so a catalogue edited and
deployed is never served stale.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.lists import format_list
from babel.numbers import format_decimal
from flask import Flask, current_app, g, request
from flask_babel import Babel, get_locale, gettext, ngettext, refresh
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from forum.catalogues import compiled_translations
from forum.mail_language import translations as mail_translations
from forum.times import readable
from forum.translatable import Message
from web.auth import current_user

TRANSLATIONS = Path(__file__).parent / "translations"
# Each language the web speaks: its code (in ?lang=, the cookie and the database), the
# value of <html lang>, and its own name, which the switch link shows in that language.
LANGUAGES = {"en": ("en-GB", "English"), "cy": ("cy", "Cymraeg")}
DEFAULT = "en"
COOKIE = "lang"
COOKIE_AGE = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    """Serve ``app`` in the language each request asks for, and remember an explicit choice."""
    app.config.update(
        BABEL_DEFAULT_LOCALE=DEFAULT, BABEL_TRANSLATION_DIRECTORIES=str(compiled_translations(TRANSLATIONS))
    )
    Babel(app, locale_selector=language)
    app.jinja_env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
    app.jinja_env.globals.update(html_lang=html_lang, language_switch=language_switch, content_lang=content_lang)
    app.jinja_env.filters.update(file_size=file_size, english=english)

    @app.after_request
    def remember(response: Response) -> Response:
        chosen = request.args.get("lang")
        if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
            remember_language(response, chosen)
        response.vary.update(("Accept-Language", "Cookie"))
        return response


class LazyText(LazyString):
    """A message translated when it is shown, in the language of the request showing it.

    Flask-Babel's own lazy string says it is HTML already (``__html__`` returns it as it
    is); a message is text, so this one is escaped like any other text on a page.
    """

    def __html__(self) -> Markup:
        return escape(str(self))


def lazy_gettext(string: str) -> LazyText:
    """``_l("Subject")``: for labels and messages defined once, when no request is running."""
    return LazyText(gettext, string)


def language() -> str:
    """The language of this request: ``?lang=``, the cookie, the member's setting, the browser."""
    for chosen in (g.get("chosen_language"), request.args.get("lang"), request.cookies.get(COOKIE)):
        if chosen in LANGUAGES:
            return str(chosen)
    user = current_user()
    if user is not None and user.language in LANGUAGES:
        return user.language
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT) or DEFAULT


def remember_language(response: Response, code: str) -> None:
    """The language cookie: sent only over https where the site is (as the session cookie is)."""
    secure = bool(current_app.config.get("SESSION_COOKIE_SECURE"))
    response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, httponly=True, samesite="Lax", secure=secure)


def choose(response: Response, code: str | None) -> None:
    """A choice made in a form (the profile's): remembered, and this request's own from now on.
    None forgets a choice, so the browser's languages decide again."""
    if code is None:
        response.delete_cookie(COOKIE)
        g.pop("chosen_language", None)
    else:
        remember_language(response, code)
        g.chosen_language = code
    refresh()


def core(message: Message) -> tuple[str, bool]:
    """A core message in this request's language, from the core's own catalogue (its
    sentences are the core's, for mail and pages alike), and whether it is in that language."""
    language = current_language()
    text = message.render(mail_translations(language).gettext)
    return text, language == "en" or message.render(str) != text


def english(text: str) -> str:
    """Text the core wrote that its catalogue does not translate (a name, a detail of a
    protocol): on a page in another language it is marked as English, so screen readers read
    it as English."""
    if current_language() == "en":
        return text
    return Markup('<span lang="en-GB">{}</span>').format(text)


def current_language() -> str:
    return str(get_locale() or DEFAULT)


def html_lang() -> str:
    """The value of ``<html lang>``: "cy" or "en-GB"."""
    return LANGUAGES.get(current_language(), LANGUAGES[DEFAULT])[0]


def content_lang(community: object, language: str = "") -> Markup:
    """`` lang="cy"`` for what a community's members wrote, when its language is not the page's:
    a post's own ``language`` when known (forum.post_language), else the community's; nothing
    when it is the page's, or unknown in a bilingual community (each post is either)."""
    code = content_language(language or getattr(community, "language", "") or "")
    return Markup(' lang="{}"').format(code) if code and code != html_lang() else Markup("")


def content_language(code: str) -> str | None:
    """The ``lang`` value of text in ``code`` ("cy", "en"), None for any other."""
    return LANGUAGES.get(code, (None,))[0]


def language_switch() -> dict[str, str]:
    """The link to this page in the other language: its URL, its ``lang`` and its label.

    The URL is only a query (``?q=damp&lang=cy``): the browser keeps the page's own path, so
    a page never writes back a path it was asked for (a "not found" page must not repeat it).
    """
    other = "en" if current_language() == "cy" else "cy"
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    url = "?" + urlencode([*args, ("lang", other)])
    return {"url": url, "lang": LANGUAGES[other][0], "label": LANGUAGES[other][1]}


def readable_time(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` in ``zone`` in the page's language: "3 Mar 2025, 14:05 GMT", "3 Maw 2025, 14:05 GMT"."""
    return readable(moment, zone, current_language())


def listed(names: list[str]) -> str:
    """Names for a sentence that lists them: "A, B and C", "A, B a C"."""
    return format_list(list(names), locale=current_language())


def file_size(size: int) -> str:
    """A file size as people read it, with the page's decimal mark: "512 bytes", "12.3 KB"."""
    if size < 1024:
        return ngettext("%(num)s byte", "%(num)s bytes", size)
    unit, amount = ("KB", size / 1024) if size < 1024 * 1024 else ("MB", size / (1024 * 1024))
    return f"{format_decimal(amount, '0.0', locale=current_language())} {unit}"
