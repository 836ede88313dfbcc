"""Digests as they fall due, inside ``listbridge serve``: APScheduler 3, its job kept in
the site's database.

One job, every quarter of an hour (every time zone is a whole number of quarter hours
from UTC), queues the daily and weekly digests owed by then. APScheduler's SQLAlchemy job
store keeps the job, and when it is next due, in the database (table
``apscheduler_jobs``), so the schedule survives restarts: if the process was down when
the job was due, it runs once on start (``coalesce``, and ``misfire_grace_time=None``
lets it run however late), and members' cursors make that one catch-up digest each, not
one per missed slot. On the very first start the job runs at once.

APScheduler 3 does not coordinate processes that share a job store: each would run the
job. That is safe (a run claims members' cursors, so each digest is still queued once)
but repeated work, so ``[digest] schedule`` leaves it on in one process only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from digest.run import Digests
from forum.digests import PERIODS
from forum.models import utcnow
from forum.site import Site

log = logging.getLogger(__name__)
JOB_ID = "listbridge-digests"

# The job in the database names a function, not an object; the function finds this
# process's scheduler here.
_running: DigestScheduler | None = None


def run_due() -> None:
    """The stored job."""
    if _running is not None:
        _running.run_due()


class DigestScheduler:
    """Starts and stops the digest job; ``on_queued`` is told when digests were queued
    (``listbridge serve`` wakes mail delivery with it). ``clock`` is for tests."""

    def __init__(self, site: Site, engine: Engine, on_queued: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.digests = Digests(site, engine)
        self._on_queued = on_queued
        self._clock = clock
        self._stopping = threading.Event()
        self._scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine)},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def start(self) -> None:
        global _running
        _running = self
        self._scheduler.start(paused=True)
        if self._scheduler.get_job(JOB_ID) is None:
            self._scheduler.add_job(f"{__name__}:run_due", CronTrigger(minute="*/15", timezone=UTC), id=JOB_ID,
                                    next_run_time=utcnow())
        self._scheduler.resume()
        job = self._scheduler.get_job(JOB_ID)
        log.info("digest scheduler started; next check at %s", job.next_run_time if job else "?")

    def stop(self) -> None:
        """Stop; a run in progress ends after its current batch, and its rest stays owed."""
        global _running
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if _running is self:
            _running = None

    def run_due(self) -> None:
        now = self._clock()
        for period in PERIODS:
            try:
                report = self.digests.run(period, now, stop=self._stopping)
            except Exception:  # logged; the next check retries, and members' cursors keep it to once
                log.exception("digest run failed period=%s", period.value)
                continue
            if report.queued:
                self._on_queued()
