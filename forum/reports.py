"""Members telling a community's facilitators that a post should not be there.

A report names the post and says why; the facilitators are mailed (each in their own
language) and find it on their reports page until one of them hides the post or dismisses
the report. Reports are counted per member (``[posting] reports_per_hour``) so that nobody
can bury the facilitators in mail, and the mail itself counts against their allowance
(:func:`forum.rate_limits.may_answer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from forum import outbox, takedown
from forum.directory import moderators
from forum.errors import InvalidInput, NotFound
from forum.mail_language import language_for, translations
from forum.mail_links import in_language, post_path
from forum.models import Community, Post, PostReport, PostStatus, User, utcnow
from forum.moderation_log import Actor, LogAction, person_name, record
from forum.rate_limits import FACILITATORS, HOUR, RateLimit, count_against, may_answer
from forum.site import Site

HIDDEN, DISMISSED = "hidden", "dismissed"
REASON_CHARS = 2000


def report_post(session: Session, site: Site, user: User, post: Post, reason: str) -> PostReport:
    """Record ``user``'s report of ``post`` and tell the facilitators.

    The caller has checked that the user may read the post. Raises InvalidInput for an
    empty reason or a second report of the same post, RateLimited past the hourly count.
    """
    reason = reason.strip()[:REASON_CHARS]
    if not reason:
        raise InvalidInput("say what is wrong with the post")
    if post.status is not PostStatus.published:
        raise NotFound("there is no such post here")
    if session.scalar(select(PostReport.id).where(PostReport.post_id == post.id, PostReport.reporter_id == user.id)):
        raise InvalidInput("you have reported this post already; its facilitators have been told")
    limit = RateLimit("report", site.settings.posting.reports_per_hour, HOUR)
    count_against(session, site, [(limit, str(user.id))])
    report = PostReport(community_id=post.community_id, post_id=post.id, reporter_id=user.id, reason=reason)
    session.add(report)
    session.flush()
    record(session, Actor.of(session, user), LogAction.report, post.community_id, post=post, detail=reason)
    _tell_facilitators(session, site, post, user, reason)
    return report


def _tell_facilitators(session: Session, site: Site, post: Post, reporter: User, reason: str) -> None:
    community = session.get_one(Community, post.community_id)
    values = {
        "name": community.name,
        "subject": post.subject,
        "who": person_name(session, reporter),
        "author": post.author_name,
        "reason": reason,
    }
    for email, user_id in moderators(session, community):
        if not may_answer(session, site, email, purpose=FACILITATORS, community_id=community.id):
            continue
        language = language_for(session, user_id, community.language)
        _ = translations(language).gettext
        values["post"] = in_language(site.url(post_path(community.slug, post.thread_id, post.id, language)), language)
        values["reports"] = in_language(site.url(f"/c/{community.slug}/manage/reports"), language)
        outbox.enqueue_notice(
            session,
            dedupe_key=f"report:{post.id}:{reporter.id}:{user_id}",
            address=email,
            user_id=user_id,
            payload={
                "slug": community.slug,
                "subject": _("[%(name)s] a post was reported: %(subject)s") % values,
                "text": (
                    _('%(who)s reported the post "%(subject)s" by %(author)s in %(name)s.') % values
                    + "\n\n"
                    + _("Their reason: %(reason)s") % values
                    + "\n\n"
                    + _("The post: %(post)s") % values
                    + "\n"
                    + _("Hide it or dismiss the report: %(reports)s") % values
                    + "\n"
                ),
            },
        )


@dataclass(frozen=True)
class OpenReport:
    id: int
    post_id: int
    thread_id: int
    subject: str
    author: str
    excerpt: str
    reporter: str
    reason: str
    created_at: datetime


EXCERPT_CHARS = 300


def open_reports(session: Session, community: Community) -> list[OpenReport]:
    """The community's reports no facilitator has answered yet, oldest first."""
    reporter = aliased(User)
    rows = session.execute(
        select(PostReport, Post, reporter)
        .join(Post, Post.id == PostReport.post_id)
        .join(reporter, reporter.id == PostReport.reporter_id)
        .where(PostReport.community_id == community.id, PostReport.resolved_at.is_(None))
        .order_by(PostReport.id)
    ).all()
    return [
        OpenReport(
            id=report.id,
            post_id=post.id,
            thread_id=post.thread_id,
            subject=post.subject,
            author=post.author_name,
            excerpt=post.body[:EXCERPT_CHARS],
            reporter=person_name(session, who),
            reason=report.reason,
            created_at=report.created_at,
        )
        for report, post, who in rows
    ]


def resolve(session: Session, actor: Actor, community: Community, report_id: int, *, hide: bool) -> PostReport:
    """Answer a report: hide its post (which answers every open report of that post) or
    dismiss it."""
    report = session.get(PostReport, report_id)
    if report is None or report.community_id != community.id:
        raise NotFound("there is no such report here")
    if report.resolved_at is not None:
        raise InvalidInput("that report has been dealt with already")
    post = session.get_one(Post, report.post_id)
    if hide and post.status is PostStatus.published:
        takedown.hide_post(session, actor, post, report.reason)
    answered = (
        session.scalars(select(PostReport).where(PostReport.post_id == post.id, PostReport.resolved_at.is_(None)))
        if hide
        else [report]
    )
    for each in answered:
        each.resolved_at = utcnow()
        each.resolved_by_id = actor.user_id
        each.resolution = HIDDEN if hide else DISMISSED
    record(session, actor, LogAction.resolve, community.id, post=post, detail=HIDDEN if hide else DISMISSED)
    session.flush()
    return report
