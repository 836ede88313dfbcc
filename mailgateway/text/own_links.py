"""Our own mail, quoted back to us: personal links and footers taken out before display.

Every copy the site sends is personal: its Reply-To is the member's reply address
(``SLUG+TOKEN@domain``), its footer links the member's unsubscribe URL and the author's
address ("Reply privately"), and confirmation and sign-in mail carry tokens too. A reply
that quotes a copy (Outlook quotes everything, footer included; digests are quoted too)
would publish them: anyone reading the archive could unsubscribe that member. So every
message that comes in has our footers recognised and dropped, and every token-bearing
URL or address of ours that is left (a footer Outlook reflowed beyond recognition, a
link pasted into the text) neutralised: the URL becomes the site's home page, the
address the community's plain address. The raw message keeps them; it is never shown.

Recognition follows what :mod:`mailgateway.outgoing.footers` and :mod:`digest.render` write:
the footer's labels (in every language mail is written in), the site's base URL and mail
domain, and the token paths.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache, cached_property, lru_cache

from bs4 import BeautifulSoup, Tag

from forum import invitations, join_requests
from forum.bounces import REENABLE_PATH
from forum.languages import BILINGUAL, MEMBER_LANGUAGES
from forum.mail_language import translations
from forum.mail_links import WELSH_UNSUBSCRIBE
from forum.site import Site
from forum.subscriptions import CONFIRM_PATH
from mailgateway.text.htmltext import text_upto

__all__ = ["TOKEN_PATHS", "OwnLinks"]

# Paths of the site whose last segment is a personal token.
TOKEN_PATHS = (
    "/unsubscribe/",
    WELSH_UNSUBSCRIBE,
    "/signin/",
    "/account/emails/verify/",
    REENABLE_PATH,
    CONFIRM_PATH,
    invitations.PATH,
    join_requests.CONFIRM_PATH,
)
# The labels our copies' footers start with (their message ids in mail's catalogue).
_FIRST_LABELS = ("View on the web", "Attachments too large for email:")
_LEAVE = "Leave %(name)s"
# "…/unsubscribe/" at the end of a line: a client wrapped the token onto the next one.
_SPILLED_TOKEN = re.compile(r"/(?:unsubscribe|dad-danysgrifio)/?[\w-]{0,7}\s*$", re.I)
_FOOTER_LINES = 16  # a footer, reflowed by a mail client, spans at most this many lines
_MAX_FOOTER_TEXT = 2000
_MAX_FOOTER_DEPTH = 8  # our footer: table, tbody, row, cell, paragraph
_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*")
_SLASH = r"(?:/|%2[Ff])"
_COLON = r"(?::|%3[Aa])"


@dataclass(frozen=True)
class OwnLinks:
    """The site's own URLs and addresses, as they appear in mail it sent."""

    base_url: str
    mail_domain: str

    @classmethod
    def of(cls, site: Site) -> OwnLinks:
        """The site's, with its patterns compiled once per process, not once per message."""
        return _own_links(site.settings.site.base_url.rstrip("/"), site.mail_domain.lower())

    @cached_property
    def _token_url(self) -> re.Pattern[str]:
        """Our URL with a token path, also percent-encoded (inside another link) and with
        the token pushed to the next (quoted) line by a client that wraps long lines."""
        site = re.sub(r"^https?://", "", self.base_url)
        site = "".join(_SLASH if c == "/" else _COLON if c == ":" else re.escape(c) for c in site)
        paths = "|".join(_SLASH.join(re.escape(p) for p in path.strip("/").split("/")) for path in TOKEN_PATHS)
        return re.compile(
            rf"(?:https?{_COLON}{_SLASH}{_SLASH})?{site}{_SLASH}(?:{paths}){_SLASH}(?:[ \t]*\n[ \t>]*)?"
            r"[A-Za-z0-9_-]+",
            re.I,
        )

    @cached_property
    def _host(self) -> str:
        """The host of our URLs, as the token pattern finds it spelt out in any URL of ours."""
        return re.split(r"[:/]", re.sub(r"^https?://", "", self.base_url), maxsplit=1)[0].casefold()

    @cached_property
    def _token_address(self) -> re.Pattern[str]:
        """``local+detail@domain``: reply, confirmation and bounce (VERP) addresses."""
        # Anchored at the start of a word: a long run of word characters is scanned once.
        return re.compile(
            rf"(?<![\w.-])([\w.-]+)(?:\+|%2[Bb])[\w.=%-]+(?:@|%40)({re.escape(self.mail_domain)})\b", re.I
        )

    @cached_property
    def _unsubscribe_url(self) -> re.Pattern[str]:
        return re.compile(
            re.escape(re.sub(r"^https?://", "", self.base_url)) + "/(?:unsubscribe|dad-danysgrifio)", re.I
        )

    @cached_property
    def _site_url(self) -> re.Pattern[str]:
        return re.compile(re.escape(re.sub(r"^https?://", "", self.base_url)), re.I)

    def neutralise(self, text: str) -> str:
        """``text`` (plain or HTML) with every token of ours made harmless."""
        if not text:
            return text
        # The site's host and mail domain are looked for as plain words first: each
        # pattern, case-insensitive and starting anywhere, runs at every character.
        folded = text.casefold()
        if self._host in folded:
            text = self._token_url.sub(self.base_url + "/", text)
        return self._token_address.sub(r"\1@\2", text) if self.mail_domain.casefold() in folded else text

    def clean_text(self, text: str) -> str:
        """Plain text (quoted or not) without our footers and with no token of ours."""
        return self.neutralise(self._drop_text_footers(text)) if text else text

    def clean_html(self, html: str) -> str:
        """HTML without our footers and with no token of ours."""
        if not html:
            return html
        if self._site_url.search(html):
            html = self._drop_html_footers(html)
        return self.neutralise(html)

    def clean_message(self, data: bytes) -> bytes:
        """An attached message (a copy forwarded "as attachment") with its headers and
        text parts cleaned as a post's are; its other parts are kept as they are."""
        try:
            message = email.message_from_bytes(data, _class=EmailMessage, policy=email.policy.default)
            for part in message.walk():
                self._clean_part(part)
            return message.as_bytes()
        except Exception:  # noqa: BLE001 - a message the library cannot rewrite is cleaned as bytes
            return self.neutralise(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def _clean_part(self, part: EmailMessage) -> None:
        for name, value in list(part.items()):
            cleaned = self.neutralise(str(value))
            if cleaned != str(value):
                part.replace_header(name, cleaned)
        if part.is_multipart() or part.get_content_maintype() != "text":
            return
        content = part.get_content()
        subtype = part.get_content_subtype()
        cleaned = self.clean_html(content) if subtype == "html" else self.clean_text(content)
        if cleaned != content:
            had_version = "MIME-Version" in part
            part.set_content(cleaned, subtype=subtype, charset="utf-8")
            if not had_version:  # set_content adds one, which only a message's top belongs to
                del part["MIME-Version"]

    def _drop_text_footers(self, text: str) -> str:
        if not self._site_url.search(text):
            return text
        lines = text.split("\n")
        dropped: set[int] = set()
        for start, line in enumerate(lines):
            if start in dropped or not _content(line).lower().startswith(_first_labels()):
                continue
            end = self._footer_end(lines, start)
            if end is None:
                continue
            first = start
            above = [i for i in range(max(0, start - 2), start) if _content(lines[i])]
            if above and _content(lines[above[-1]]) == "--":
                first = above[-1]
            dropped.update(range(first, end + 1))
        return "\n".join(line for i, line in enumerate(lines) if i not in dropped) if dropped else text

    def _footer_end(self, lines: list[str], start: int) -> int | None:
        """The footer's last line: the first with our unsubscribe link (or, where a client
        dropped the link, the "Leave …" line), and the token a client wrapped after it."""
        depth = _depth(lines[start])
        leave = None
        for i in range(start, min(len(lines), start + _FOOTER_LINES)):
            if _depth(lines[i]) != depth and _content(lines[i]):
                break
            if self._unsubscribe_url.search(lines[i]):
                return i + 1 if i + 1 < len(lines) and _SPILLED_TOKEN.search(lines[i]) else i
            if leave is None and _content(lines[i]).lower().startswith(_labels(_LEAVE)):
                leave = i
        return leave

    def _drop_html_footers(self, html: str) -> str:
        soup = BeautifulSoup(html, "html.parser")
        found = False
        known: dict[int, str | None] = {}
        for anchor in soup.find_all("a", href=True):
            if anchor.parent is None or not self._site_url.search(str(anchor["href"])):
                continue
            if " ".join(anchor.get_text(" ").split()).lower() not in _labels(_FIRST_LABELS[0]):
                continue
            footer = _outermost_footer(anchor, known)
            if footer is not None:
                footer.extract()
                found = True
        return str(soup) if found else html


@lru_cache(maxsize=8)
def _own_links(base_url: str, mail_domain: str) -> OwnLinks:
    return OwnLinks(base_url, mail_domain)


@cache
def _labels(label: str) -> tuple[str, ...]:
    """``label`` as our mail writes it in each language, in lower case, up to its first value."""
    written = (translations(language).gettext(label) for language in (*MEMBER_LANGUAGES, BILINGUAL))
    return tuple(dict.fromkeys(text.split("%(")[0].rstrip(":").lower() for text in written))


def _first_labels() -> tuple[str, ...]:
    return tuple(written for label in _FIRST_LABELS for written in _labels(label))


def _content(line: str) -> str:
    return line[len(_QUOTE_PREFIX.match(line).group()) :].strip()  # type: ignore[union-attr]


def _depth(line: str) -> int:
    return _QUOTE_PREFIX.match(line).group().count(">")  # type: ignore[union-attr]


def _outermost_footer(anchor: Tag, known: dict[int, str | None]) -> Tag | None:
    """The largest element around a "View on the web" link that holds only our footer:
    its text starts with a footer label and it has the link that leaves the community."""
    best = None
    node: Tag = anchor
    for _ in range(_MAX_FOOTER_DEPTH):
        if not isinstance(node.parent, Tag) or node.parent.name in ("body", "html", "[document]", "blockquote"):
            break
        node = node.parent
        text = (text_upto(node, _MAX_FOOTER_TEXT, known) or "").lower()
        if not text.startswith(_first_labels()):
            break
        if any(f" {leave}" in text for leave in _labels(_LEAVE)):
            best = node
    return best
