"""The web pages our mail links to, as a reader of the mail's language should see them.

A link in mail written in Welsh carries ``?lang=cy``, so the page it opens is in Welsh
whatever the browser asks (and the choice is remembered), and its path has no English
word in it: a plain-text mail shows its links as they are, and a Welsh reader should not
read "unsubscribe" or "membership" in our footer. Those paths are the same pages under
Welsh names (``/c/SLUG/aelodaeth``, ``/dad-danysgrifio/TOKEN``), and a post's own address
(``/c/SLUG/t/THREAD/POST``) leads to its place in its thread. Mail in English, or in both
languages, links the pages as they are, and the reader's browser chooses.

Mail is written by several channels that may not import each other or the web, so the
paths are kept here, where each of them and the web can find them.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

WELSH = "cy"
WELSH_MEMBERSHIP = "aelodaeth"  # /c/SLUG/aelodaeth: /c/SLUG/membership
WELSH_UNSUBSCRIBE = "/dad-danysgrifio/"  # /dad-danysgrifio/TOKEN: /unsubscribe/TOKEN


def in_language(url: str, language: str) -> str:
    """``url`` opening its page in ``language`` when that is Welsh; as it is otherwise."""
    if language != WELSH:
        return url
    scheme, netloc, path, query, fragment = urlsplit(url)
    query = f"{query}&lang={WELSH}" if query else f"lang={WELSH}"
    return urlunsplit((scheme, netloc, path, query, fragment))


def post_path(slug: str, thread_id: int, post_id: int, language: str) -> str:
    """A post on the web: its thread at the post, or, in Welsh, the post's own address."""
    if language == WELSH:
        return f"/c/{slug}/t/{thread_id}/{post_id}"
    return f"/c/{slug}/t/{thread_id}#post-{post_id}"


def membership_path(slug: str, language: str) -> str:
    """Where a member changes their delivery in a community."""
    return f"/c/{slug}/{WELSH_MEMBERSHIP if language == WELSH else 'membership'}"


def unsubscribe_path(token: str, language: str) -> str:
    """The page that asks whether to leave a community, for an unsubscribe token."""
    return f"{WELSH_UNSUBSCRIBE if language == WELSH else '/unsubscribe/'}{token}"
