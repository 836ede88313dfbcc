"""The outbound worker of one chat platform: its outbox rows → API calls, in order.

Like mail delivery, it claims due rows (only its own platform's kinds) and records each
outcome; unlike mail, it sends one message at a time in row order, because a reply must
follow the message that starts its thread, and chat APIs rate-limit per workspace
rather than per connection. A ``429`` pauses the worker for the time the platform asks
and hands the rest of the batch back, due at that time, still in order.

A copy is recorded (post ↔ message id) in the transaction that marks its row done. A
post already mapped in the channel — it came from there, or an earlier attempt got
through — is not sent again.

Failures are treated as mail delivery treats them: a temporary one (the network, a 5xx, a
timeout, the database out of reach) is retried with backoff until ``give_up_hours``; a
refusal the platform gives is final; anything else is a bug or something missing on the
server (an attachment's file), which no retry would mend: its row fails at once, the
error is logged at ERROR once per post and the site's operators are told, once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bridges.base import (
    Adapter,
    PermanentFailure,
    RateLimited,
    TemporaryFailure,
    chat_post,
)
from forum import chat, operators, outbox
from forum.errors import describe
from forum.models import ChatLink, Post, PostStatus, utcnow
from forum.outbox import Claimed
from forum.site import Site

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0  # a fallback: whatever commits chat work wakes the worker at once
BATCH = 50


class ChatWorker:
    def __init__(self, adapter: Adapter, site: Site, sessions: sessionmaker[Session]) -> None:
        self.adapter = adapter
        self.site = site
        self.sessions = sessions
        self.kinds = outbox.chat_kinds(adapter.platform)
        # A worker that dies holds its claims this long, as mail delivery's do.
        self.lease = timedelta(seconds=max(1.0, site.settings.delivery.claim_lease_seconds))
        self._reported: set[str] = set()  # breakages logged by this worker
        self._woken: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look for rows now (a post was just committed). Safe from any thread."""
        if self._loop is not None and self._woken is not None:
            self._loop.call_soon_threadsafe(self._woken.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        while not stop.is_set():
            pause = await asyncio.to_thread(self.step)
            self._woken.clear()
            waiters = [asyncio.ensure_future(stop.wait())] + (
                [] if pause else [asyncio.ensure_future(self._woken.wait())]
            )
            await asyncio.wait(waiters, timeout=pause or POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    def step(self) -> float:
        """Claim and send one batch; the seconds to pause before the next (a rate limit), else 0."""
        with self.sessions.begin() as session:
            items = outbox.claim(session, self.kinds, BATCH, self.lease)
        for index, item in enumerate(items):
            try:
                self._send(item)
            except RateLimited as exc:
                log.warning("%s rate limit: pausing %.1f s", self.adapter.platform, exc.retry_after)
                with self.sessions.begin() as session:
                    for rest in items[index:]:
                        outbox.retry_later(session, rest.id, str(exc), timedelta(seconds=exc.retry_after))
                return exc.retry_after
            except PermanentFailure as exc:
                self._finish(item, failed=str(exc))
            except (TemporaryFailure, OperationalError) as exc:
                self._retry(item, exc)
            except Exception as exc:  # noqa: BLE001 - a bug, or a file gone: no retry would send it
                self._broken(item, exc)
        return 0.0

    def _send(self, item: Claimed) -> None:
        action = item.kind.rsplit("_", 1)[1]
        with self.sessions() as session:
            link = session.get(ChatLink, item.payload.get("link_id"))
            post = session.get(Post, item.post_id) if item.post_id else None
            if link is None or post is None:
                raise PermanentFailure("the post or the channel link no longer exists")
            mapping = chat.message_for_post(session, link.id, post.id)
            root = chat.thread_root(session, link.id, post.thread_id)
            # A thread's first message in the channel shows subject and lead, also when edited.
            starts = root is None if action == "post" else mapping is not None and mapping.message_ref == root
            content = chat_post(session, self.site, post, starts_thread=starts)
            status = post.status
        channel = link.channel
        if action == "post":
            if mapping is not None or status is not PostStatus.published:
                self._finish(item)
                return
            ref = (
                self.adapter.start_thread(channel, content)
                if root is None
                else self.adapter.reply(channel, root, content)
            )
            self._finish(item, record=(link.id, post, ref, root is None))
        elif mapping is None or not mapping.ours:
            self._finish(item)  # nothing of ours to change
        elif action == "edit":
            self.adapter.edit(channel, mapping.message_ref, content)
            self._finish(item)
        else:
            self.adapter.delete(channel, mapping.message_ref)
            self._finish(item)

    def _finish(self, item: Claimed, *, failed: str = "", record: tuple[int, Post, str, bool] | None = None) -> None:
        with self.sessions.begin() as session:
            if record is not None:
                link_id, post, ref, starts = record
                chat.record(session, link_id, post, ref, ours=True, root_ref=ref if starts else None)
            if failed:
                log.warning("chat item %s failed for good: %s", item.id, failed)
                outbox.mark_failed(session, item.id, failed)
            else:
                outbox.mark_done(session, [item.id])

    def _broken(self, item: Claimed, exc: Exception) -> None:
        """Fail the row; the first time this post (or this kind of row today) breaks, log
        the error with its traceback and tell the operators."""
        error = f"cannot be sent: {describe(exc)}"
        platform = self.adapter.platform
        key = f"{platform}:post:{item.post_id}" if item.post_id else f"{platform}:{item.kind}:{utcnow():%Y-%m-%d}"
        first = key not in self._reported
        self._reported.add(key)
        if first:
            log.error(
                "chat item %s (%s, post %s) %s; it is not retried",
                item.id,
                item.kind,
                item.post_id,
                error,
                exc_info=exc,
            )
        with self.sessions.begin() as session:
            outbox.mark_failed(session, item.id, error)
            if first:
                what = f"post {item.post_id}" if item.post_id else f"outbox row {item.id} ({item.kind})"
                operators.tell(
                    session,
                    self.site.settings,
                    key=f"cannot-send-chat:{key}",
                    subject=f"{self.site.settings.site.name}: a {platform} copy could not be sent",
                    text=(
                        f"The {platform} copy of {what} could not be sent.\n\nThe error: {error}\n\n"
                        "It is marked failed and not retried. This is a bug, or something missing on the "
                        "server (such as an attachment's file); the server's log has the details.\n"
                    ),
                )

    def _retry(self, item: Claimed, exc: Exception) -> None:
        settings = self.site.settings.delivery
        with self.sessions.begin() as session:
            if utcnow() - item.created_at > timedelta(hours=settings.give_up_hours):
                outbox.mark_failed(session, item.id, f"gave up: {exc}")
            else:
                outbox.retry_later(
                    session,
                    item.id,
                    str(exc),
                    outbox.backoff(item.attempts, settings.retry_base_seconds, settings.retry_max_seconds),
                )
