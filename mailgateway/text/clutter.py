"""What corporate mail filters add to a message, taken off again.

Council and company mail passes Microsoft Defender, Mimecast, Proofpoint and their kin
on its way out and in: links are rewritten to go through the filter (and carry the
recipient's address), a "CAUTION: this email originated from outside…" banner is put
on top of the body and ``[EXTERNAL]`` in front of the subject. None of it was written by
the sender, all of it would be published and mailed to every member, and the banners
multiply with every reply. The filters change their wording, not their shapes, so what
is recognised is kept in tables: one row per filter or banner, in every language seen.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from bs4 import BeautifulSoup, NavigableString, Tag

from mailgateway.text.htmltext import text_upto

__all__ = ["BANNERS", "REWRITERS", "clean_html", "clean_subject", "clean_text", "is_banner", "unwrap_url"]


# URL rewriting -----------------------------------------------------------------------------


def _query(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def _proofpoint_v2(url: str) -> str | None:
    """``u=https-3A__example.org_a-2Db``: "-XX" is a hex byte and "_" a slash."""
    encoded = _query(url, "u")
    if not encoded:
        return None
    return re.sub(r"-([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), encoded.replace("_", "/"))


_V3 = re.compile(r"/v3/__(?P<url>.+?)__;(?P<bytes>[^!]*)!")
_V3_TOKEN = re.compile(r"\*(\*.)?")
_V3_RUNS = {c: n for n, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", start=2)}


def _proofpoint_v3(url: str) -> str | None:
    """``/v3/__https://example.org/a*b__;Iw!!…``: each "*" (or "**X", a run) stands for
    characters kept base64url-encoded after the ``__;``."""
    match = _V3.search(url)
    if not match:
        return None
    try:
        stored = base64.urlsafe_b64decode(match.group("bytes") + "==").decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    position = 0

    def fill(token: re.Match[str]) -> str:
        nonlocal position
        length = _V3_RUNS.get(token.group(1)[-1], 1) if token.group(1) else 1
        chars = stored[position : position + length]
        position += length
        return chars

    return _V3_TOKEN.sub(fill, match.group("url"))


def _parameter(name: str) -> Callable[[str], str | None]:
    return lambda url: _query(url, name)


def _mimecast(url: str) -> str | None:
    """Mimecast keeps the target on its own servers; only the domain is in the link."""
    domain = _query(url, "domain")
    return f"https://{domain}" if domain and re.fullmatch(r"[\w.-]+", domain) else None


@dataclass(frozen=True)
class Rewriter:
    """A link-protection service: the hosts (and path) it rewrites links to, and how to
    read the original target back out of such a link."""

    name: str
    host: re.Pattern[str]
    path: str
    target: Callable[[str], str | None]


REWRITERS = (
    Rewriter(
        "Microsoft Defender Safe Links",
        re.compile(r"(?:[\w-]+\.)*safelinks\.protection\.(?:outlook\.com|office365\.us|outlook\.cn)"),
        "",
        _parameter("url"),
    ),
    Rewriter("Proofpoint URL Defense v1", re.compile(r"urldefense(?:\.proofpoint)?\.com"), "/v1/url", _parameter("u")),
    Rewriter("Proofpoint URL Defense v2", re.compile(r"urldefense(?:\.proofpoint)?\.com"), "/v2/url", _proofpoint_v2),
    Rewriter("Proofpoint URL Defense v3", re.compile(r"urldefense(?:\.proofpoint)?\.com"), "/v3/", _proofpoint_v3),
    Rewriter(
        "Mimecast URL Protect",
        re.compile(r"(?:[\w-]+\.)*(?:protect(?:-[a-z]{2})?\.mimecast\.com|mimecastprotect\.com)"),
        "/s/",
        _mimecast,
    ),
    Rewriter("Barracuda Link Protection", re.compile(r"linkprotect\.cudasvc\.com"), "/url", _parameter("a")),
    Rewriter(
        "Trend Micro Click-Time",
        re.compile(r"(?:[\w-]+\.)*trendmicro\.(?:com|eu)"),
        "/wis/clicktime/",
        _parameter("url"),
    ),
)
_MAX_NESTING = 4  # a Safe Link around a URL Defense link around …
_URL = re.compile(r"""https?://[^\s<>"'\]\[]+""", re.I)
_REWRITTEN_HOSTS = re.compile(
    r"safelinks\.protection|urldefense|mimecast|linkprotect\.cudasvc|trendmicro\.(?:com|eu)(?::\d+)?/wis/", re.I
)
# What every rewritten link holds, looked for as plain words before any pattern is run.
_REWRITTEN_HINTS = ("safelinks.protection", "urldefense", "mimecast", "linkprotect.cudasvc", "trendmicro.")


def _rewriter(url: str) -> Rewriter | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    for rewriter in REWRITERS:
        if rewriter.host.fullmatch(host) and parts.path.startswith(rewriter.path):
            return rewriter
    return None


def unwrap_url(url: str) -> str:
    """The link the sender wrote, for a link a filter rewrote; any other URL as it is."""
    for _ in range(_MAX_NESTING):
        rewriter = _rewriter(url)
        if rewriter is None:
            return url
        target = rewriter.target(url)
        if not target or not target.lower().startswith(("http://", "https://", "mailto:")):
            return ""
        url = unquote(target) if "%3a" in target[:12].lower() else target
    return url


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of the lower-case ``words``, in any case. Looking for
    plain words in the case-folded text is many times faster than a case-insensitive
    pattern over a whole message, which would run at every character of it."""
    folded = text.casefold()
    return any(word in folded for word in words)


def _unwrap_urls(text: str) -> str:
    if not _mentions(text, _REWRITTEN_HINTS):
        return text
    return _URL.sub(lambda m: unwrap_url(m.group()) or "[link removed]", text)


# Banners and tags --------------------------------------------------------------------------

# Each is the whole of a banner paragraph: what the filter puts at the top (sometimes the
# bottom) of the body. They are matched against one paragraph's text, spaces collapsed.
# Where a filter says the mail came from, and what it tells the reader to beware of.
_OUTSIDE = (
    r"(?:(?:from )?outside (?:of )?[\w '-]{2,40}|from (?:an external (?:source|sender|address|domain"
    r"|organi[sz]ation|email address)|the internet|external senders?))"
)
_BEWARE = r"(?:do not|don't|be (?:careful|cautious|wary)|exercise caution|unless you|never|verify|take care)"
BANNERS = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        # Microsoft 365 and most mail gateways, in their many house styles
        r"(?:\[?(?:caution|warning|attention|notice|external(?: email| sender)?)\]?\s*[:!\-]?\s*)*"
        rf"(?:this|the) (?:e-?mail|message)\b.{{0,40}}?\b(?:originated|came|comes|was sent|is|has been sent) {_OUTSIDE}.{{0,400}}",
        rf"(?:\[external[\w -]{{0,20}}\]|external(?: email| sender| message)?\s*[:!\-])\s*.{{0,300}}?\b{_BEWARE}\b.{{0,300}}",
        # Microsoft's first-contact safety tip
        r"(?:some people who received this message )?you don't often get (?:e-?mail|messages?) from \S+\.?"
        r"(?: learn why this is important\.?)?",
        # Welsh: "RHYBUDD: Daeth yr e-bost hwn o'r tu allan i'r sefydliad…", "[ALLANOL] …"
        r"(?:\[?(?:rhybudd|allanol|e-?bost allanol)\]?\s*[:!\-]?\s*)*"
        r"(?:daeth|mae|cafodd)'?r? (?:yr )?e-?bost (?:hwn )?(?:wedi (?:dod|cyrraedd) |ei anfon )?o'?r tu allan.{0,400}",
        # Mimecast's, Proofpoint's and the virus scanners' own notices
        r"(?:mimecast|proofpoint)[^.]{0,80}\b(?:scanned|protected|attachment protection)\b.{0,300}",
        r"this (?:e-?mail|message)(?: and any attachments?)? (?:has|have) been (?:scanned|checked) (?:by|for) .{0,200}",
    )
)
_BANNER_WORDS = (
    "outside",
    "external",
    "don't often get",
    "tu allan",
    "allanol",
    "rhybudd",
    "mimecast",
    "proofpoint",
    "scanned",
)
_BANNER_HINTS = re.compile("|".join(map(re.escape, _BANNER_WORDS)), re.I)
_MAX_BANNER = 700
_MAX_BANNER_DEPTH = 12  # elements a banner's words sit in: box, table, row, cell, paragraph, spans
# Subject and body tags: "[EXTERNAL]", "EXTERNAL:", "*EXTERNAL*", "[ALLANOL]", "[EXT]".
_TAG_WORDS = r"external(?: email| sender| message)?|ext|allanol|e-?bost allanol|caution(?:: external)?|rhybudd"
_BRACKET_TAG = re.compile(rf"(?:\[\s*(?:{_TAG_WORDS})\s*\]|\*\s*(?:{_TAG_WORDS})\s*\*)\s*", re.I)
_LEADING_TAG = re.compile(r"^\s*(?:external|allanol)\s*:\s*", re.I)


def is_banner(paragraph: str) -> bool:
    """Whether one paragraph (spaces collapsed) is wholly a filter's banner."""
    text = " ".join(paragraph.split()).strip("> ")
    if not text or len(text) > _MAX_BANNER or not _BANNER_HINTS.search(text):
        return False
    return any(banner.fullmatch(text) for banner in BANNERS)


def clean_subject(subject: str) -> str:
    """The subject without the filters' "[EXTERNAL]"-style tags, wherever they were put."""
    cleaned = _LEADING_TAG.sub("", _BRACKET_TAG.sub("", subject))
    return " ".join(cleaned.split()) if cleaned != subject else subject


_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t>]*\n)+")


def clean_text(text: str) -> str:
    """Plain text without rewritten links, banners and tags (also in quoted lines)."""
    if not text:
        return text
    text = _unwrap_urls(text)
    if not _mentions(text, _BANNER_WORDS) and not _BRACKET_TAG.search(text):
        return text
    pieces = _PARAGRAPH_BREAK.split(text)
    breaks = _PARAGRAPH_BREAK.findall(text)
    kept: list[str] = []
    for i, piece in enumerate(pieces):
        if not is_banner(_unquoted(piece)):
            kept.append(_BRACKET_TAG.sub("", piece) if _BRACKET_TAG.search(piece) else piece)
            if i < len(breaks):
                kept.append(breaks[i])
    return "".join(kept).strip("\n") + ("\n" if text.endswith("\n") else "")


def _unquoted(paragraph: str) -> str:
    return "\n".join(re.sub(r"^[ \t]*(?:>[ \t]?)*", "", line) for line in paragraph.split("\n"))


def clean_html(html: str) -> str:
    """HTML without rewritten links, banner blocks and tags."""
    if not html or not (_mentions(html, _REWRITTEN_HINTS + _BANNER_WORDS) or _BRACKET_TAG.search(html)):
        return html
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(href=True):
        _unwrap_attribute(tag, "href")
    for tag in soup.find_all(src=True):
        _unwrap_attribute(tag, "src")
    known: dict[int, str | None] = {}
    for string in list(soup.find_all(string=_BANNER_HINTS)):
        if string.parent is not None:
            _remove_banner(string, known)
    for string in list(soup.find_all(string=True)):
        text = str(string)
        cleaned = _BRACKET_TAG.sub("", _unwrap_urls(text)) if string.parent is not None else text
        if cleaned != text:
            string.replace_with(NavigableString(cleaned))
    return str(soup)


def _unwrap_attribute(tag: Tag, name: str) -> None:
    value = str(tag.get(name) or "")
    if not _REWRITTEN_HOSTS.search(value):
        return
    target = unwrap_url(value)
    if target:
        tag[name] = target
    else:
        del tag[name]  # the link cannot be recovered: its text stays, unlinked


def _remove_banner(string: NavigableString, known: dict[int, str | None]) -> None:
    """Remove the outermost element that holds only a banner (its box, table or row), if
    the text around ``string`` is one; a banner is often split over several elements
    ("<b>CAUTION:</b> This email…"), so the ancestors are looked at, up to a banner's size."""
    node: Tag | NavigableString = string
    banner: Tag | NavigableString | None = string if is_banner(str(string)) else None
    for _ in range(_MAX_BANNER_DEPTH):
        if not isinstance(node.parent, Tag) or node.parent.name in ("body", "html", "[document]"):
            break
        node = node.parent
        text = text_upto(node, _MAX_BANNER, known)
        if text is None:
            break
        if is_banner(text):
            banner = node
    if banner is not None:
        banner.extract()
