"""Claimed outbox rows made into messages ready for the wire, keeping recent posts' templates.

A post is rendered once into a template (:mod:`.compose`) per language its members chose
(Welsh, English, or none: the community's) and per format (text and HTML, or plain text
only), and each copy personalised from it; templates
of recent posts are kept a short while, so a post whose copies are claimed in several
batches is rendered once. A message that cannot be composed is a bug, not a delivery
problem: its rows fail at once, and the site's operators are told once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from forum import operators, outbox
from forum.errors import NotFound, describe
from forum.models import utcnow
from forum.outbox import Claimed
from forum.site import Site
from mailgateway import addresses
from mailgateway.outgoing.compose import PostTemplate, build_template, personalize
from mailgateway.outgoing.dkim_sign import DkimSigner
from mailgateway.outgoing.notices import compose_digest, compose_notice
from mailgateway.outgoing.outcomes import FIELDS, Outcome, Result
from mailgateway.outgoing.post_views import CommunityInfo, PostView, archived_at, load_community, load_post

log = logging.getLogger(__name__)
TEMPLATE_CACHE_SIZE = 16
TEMPLATE_MAX_AGE = 60.0  # seconds: an edited or deleted post stops going out unchanged soon


@dataclass(frozen=True)
class Job:
    """One message ready for the wire."""

    item: Claimed
    sender: str  # envelope sender (VERP)
    message: bytes
    claimed_at: float  # time.monotonic(): a job waiting near the end of its lease is handed back


class CannotCompose(Exception):
    """A source whose messages cannot be made: its rows fail without trying again."""


@dataclass(frozen=True)
class Breakage:
    """A new kind of failure to compose, for the operators: one notice per ``key``."""

    key: str
    subject: str
    text: str


Source = PostTemplate | PostView | CommunityInfo | NotFound | CannotCompose
# What rows are composed from: by post id (its view), (post id, member's language, plain
# text only) (its template for those members), or community slug.
TemplateKey = tuple[int, str | None, bool]
SourceKey = int | str | TemplateKey
Sources = dict[SourceKey, Source]


class Composer:
    """Turns claimed rows into messages, keeping recent posts' templates.

    Used from one worker thread at a time (the feeder's), so it needs no lock.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.dkim = DkimSigner.from_settings(site.settings.dkim, site.mail_domain)
        self._templates: OrderedDict[TemplateKey, tuple[float, PostTemplate]] = OrderedDict()
        self._reported: set[str] = set()  # breakages logged by this process

    def fetch(self, session: Session, items: Iterable[Claimed]) -> Sources:
        """What composing ``items`` needs: cached templates, else rows from the database."""
        sources: Sources = {}
        for item in items:
            key = _source_key(item)
            if isinstance(key, int):
                template_key = (key, item.language, item.plain_text)
                if template_key not in sources and (cached := self._cached(template_key)) is not None:
                    sources[template_key] = cached
                    continue
            if key is None or key in sources:
                continue
            try:
                sources[key] = load_post(session, key) if isinstance(key, int) else load_community(session, key)
            except NotFound as exc:
                sources[key] = exc
        return sources

    def compose(
        self, items: Iterable[Claimed], sources: Sources
    ) -> tuple[list[Job], list[tuple[Claimed, Result]], list[Breakage]]:
        """Messages for ``items``, the rows that cannot be sent with why, and the failures
        to compose that are new, for the operators (CPU only).

        A post's template replaces its view in ``sources`` once built, so a batch composed
        in several calls builds it once; a post that cannot be composed is replaced by
        the error, so the rest of its copies fail without trying.
        """
        jobs: list[Job] = []
        refused: list[tuple[Claimed, Result]] = []
        breakages: list[Breakage] = []
        for item in items:
            try:
                job = self._job(item, sources)
                # Signed here, in the composing thread: OpenSSL releases the GIL, so the
                # signatures overlap with sending on the event loop.
                jobs.append(replace(job, message=self.dkim.sign(job.message)) if self.dkim else job)
            except NotFound as exc:
                refused.append((item, Result(Outcome.failed, exc.message)))
            except CannotCompose as exc:
                refused.append((item, Result(Outcome.failed, str(exc))))
            except Exception as exc:  # noqa: BLE001 - a bug, or a file gone: no retry would compose it
                error, breakage = self._broken(item, sources, exc)
                refused.append((item, Result(Outcome.failed, error)))
                if breakage is not None:
                    breakages.append(breakage)
        return jobs, refused, breakages

    def _broken(self, item: Claimed, sources: Sources, exc: Exception) -> tuple[str, Breakage | None]:
        """The row's error; logged, and a :class:`Breakage` for the operators, the first
        time this post (or, for notices and digests, this kind of message today) fails."""
        error = f"cannot be composed: {describe(exc)}"
        post = item.post_id if item.kind == outbox.POST_EMAIL else None
        source = sources.get(post) if post is not None else None
        if post is not None:
            sources[post] = CannotCompose(error)
            for built in [key for key in sources if isinstance(key, tuple) and key[0] == post]:
                del sources[built]
        key = f"post:{post}" if post is not None else f"{item.kind}:{utcnow():%Y-%m-%d}"
        if key in self._reported:
            return error, None
        self._reported.add(key)
        log.error(
            "cannot compose " + FIELDS + " kind=%s; its message is not sent",
            item.id,
            item.post_id,
            item.address,
            error,
            item.kind,
            exc_info=exc,
        )
        if item.payload.get(operators.TO_OPERATORS):
            return error, None  # never a notice about a notice to the operators
        if post is not None:
            what = f"The email copies of post {post}"
            if isinstance(source, PostView):
                what += f' ("{source.subject}" in {source.community.name}, {archived_at(source, self.site)})'
            consequence = "Members who take each post by email did not get it; it is on the web."
        else:
            what = f"A {item.kind.replace('_', ' ')} to {item.address} (outbox row {item.id})"
            consequence = "Others of its kind may fail alike today; this is said once a day."
        text = (
            f"{what} could not be composed, so nothing was sent.\n\n"
            f"The error: {error}\n\n{consequence} The rows are marked failed and are not retried. "
            "This is a bug, or something missing on the server (such as an attachment's file); "
            "the server's log has the details.\n"
        )
        subject = f"{self.site.settings.site.name}: a message could not be composed and was not sent"
        return error, Breakage(f"cannot-compose:{key}", subject, text)

    def _job(self, item: Claimed, sources: Sources) -> Job:
        domain = self.site.mail_domain
        claimed = time.monotonic()
        if item.kind == outbox.POST_EMAIL and item.post_id is not None and item.user_id is not None:
            template = self._template((item.post_id, item.language, item.plain_text), sources)
            return Job(
                item,
                addresses.bounce_address(template.slug, domain, item.address),
                personalize(template, self.site, item.user_id),
                claimed,
            )
        if item.kind in (outbox.NOTICE_EMAIL, outbox.DIGEST_EMAIL):
            key = _source_key(item)
            community = _found(sources[key]) if key is not None else None
            assert community is None or isinstance(community, CommunityInfo)
            sender = (
                addresses.bounce_address(community.slug, domain, item.address) if community else f"noreply@{domain}"
            )
            # Stable across retries (a receiver may drop a repeat), unique across databases.
            message_id = f"notice.{item.id}.{int(item.created_at.timestamp())}@{domain}"
            compose = compose_digest if item.kind == outbox.DIGEST_EMAIL else compose_notice
            return Job(
                item,
                sender,
                compose(
                    self.site,
                    item.address,
                    item.payload,
                    message_id=message_id,
                    community=community,
                    user_id=item.user_id,
                    plain_text=item.plain_text,
                ),
                claimed,
            )
        raise NotFound(f"outbox row {item.id} of kind {item.kind!r} names no post, member or message")

    def _template(self, key: TemplateKey, sources: Sources) -> PostTemplate:
        """The post's template for members whose language setting is ``key[1]`` and who take
        plain text only if ``key[2]``; built from its view the first time (a post that cannot
        be composed fails for every language)."""
        source = sources.get(key)
        if not isinstance(source, PostTemplate):
            view = _found(sources[key[0]])
            assert isinstance(view, PostView)
            source = sources[key] = build_template(view, self.site, key[1], plain_text=key[2])
            self._templates[key] = (time.monotonic(), source)
            while len(self._templates) > TEMPLATE_CACHE_SIZE:
                self._templates.popitem(last=False)
        return source

    def _cached(self, key: TemplateKey) -> PostTemplate | None:
        entry = self._templates.get(key)
        if entry is None or time.monotonic() - entry[0] > TEMPLATE_MAX_AGE:
            return None
        self._templates.move_to_end(key)
        return entry[1]


def _source_key(item: Claimed) -> int | str | None:
    """What a row is composed from: its post (an id) or, for a notice, its community (a slug)."""
    if item.kind == outbox.POST_EMAIL:
        return item.post_id
    return item.payload.get("slug") or None


def _found(value: Source) -> PostTemplate | PostView | CommunityInfo:
    if isinstance(value, (NotFound, CannotCompose)):
        raise value
    return value
