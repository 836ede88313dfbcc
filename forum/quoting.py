"""The quoted excerpt a copy of a web reply carries of the post it answers.

On the web a reply sits under the post it answers; in a mailbox it arrives alone. So the
mail copy of a web reply starts with a short attribution and the start of the parent,
"> " quoted, as a mail client would have quoted it, and the reader knows which point is
answered. Mail written in a mail client quoted for itself: it gets nothing added.
Our words (the attribution) are in the reader's language, from the mail catalogue.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from forum.archive import public_name
from forum.languages import BILINGUAL, MEMBER_LANGUAGES
from forum.mail_language import SEPARATOR, translations
from forum.models import Post

MAX_LINES = 8
MAX_CHARS = 600
ELLIPSIS = "[…]"


@dataclass(frozen=True)
class QuotedParent:
    """What a reply's copy quotes of its parent: who wrote it, and its stored text."""

    author: str  # as anyone may see it (forum.archive.public_name)
    text: str

    @classmethod
    def of(cls, post: Post) -> QuotedParent:
        return cls(public_name(post.author_name), post.body)


def excerpt(text: str) -> list[str]:
    """The start of ``text`` as lines to quote: at most :data:`MAX_LINES` lines and
    :data:`MAX_CHARS` characters, with ``[…]`` when something was left out."""
    lines: list[str] = []
    used = 0
    for line in (line.rstrip() for line in text.strip().splitlines()):
        if not line and lines and not lines[-1]:
            continue  # one blank line between paragraphs is enough in a quote
        if len(lines) == MAX_LINES or used + len(line) > MAX_CHARS:
            if len(lines) < MAX_LINES and used < MAX_CHARS:
                lines.append(line[: MAX_CHARS - used].rstrip())
            lines.append(ELLIPSIS)
            break
        lines.append(line)
        used += len(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def attribution(author: str, language: str) -> str:
    """ "Alice wrote:" in ``language`` ("Someone" too, in each of a bilingual mail's languages)."""
    if language == BILINGUAL:
        return SEPARATOR.join(attribution(author, each) for each in MEMBER_LANGUAGES)
    _ = translations(language).gettext
    return _("%(name)s wrote:") % {"name": author if author != "Someone" else _("Someone")}


def quote_text(parent: QuotedParent, language: str) -> str:
    """The attribution and the "> " quoted excerpt, for the plain-text part."""
    quoted = [f"> {line}" if line else ">" for line in excerpt(parent.text)]
    return "\n".join([attribution(parent.author, language), *quoted])


def quote_html(parent: QuotedParent, language: str) -> str:
    """The same for the HTML part: a blockquote, styled inline as mail clients need."""
    lines = "<br>\n".join(html.escape(line) for line in excerpt(parent.text))
    return (
        f'<p style="margin:0 0 4px 0;color:#555555;">{html.escape(attribution(parent.author, language))}</p>\n'
        '<blockquote style="margin:0 0 16px 0;padding:0 0 0 12px;border-left:3px solid #cccccc;color:#555555;">'
        f"{lines}</blockquote>\n"
    )
