"""Digests as they fall due, inside ``listbridge serve``: APScheduler 3, its job kept in
the site's database.

One job, every quarter of an hour (every time zone is a whole number of quarter hours
from UTC), queues the daily and weekly digests owed by then. APScheduler's SQLAlchemy job
store keeps the job, and when it is next due, in the database (table
``apscheduler_jobs``), so the schedule survives restarts: if the process was down when
the job was due, it runs once on start (``coalesce``, and ``misfire_grace_time=None``
lets it run however late), and members' cursors make that one catch-up digest each, not
one per missed slot. On the very first start the job runs at once.

APScheduler 3 does not coordinate processes that share a job store, so the scheduler runs
only in the process holding a site-wide lock (``forum.locks``: an advisory lock on
PostgreSQL, a file lock next to an SQLite database). Every other process started with the
``scheduler`` role waits on standby and tries for the lock every ``STANDBY_SECONDS``; the
lock goes with its holder however it dies, so a standby takes over within that time.
(Two schedulers at once would still queue each digest once, since a run claims members'
cursors, but would repeat the work.)
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
from forum.locks import site_lock
from forum.models import utcnow
from forum.site import Site

log = logging.getLogger(__name__)
JOB_ID = "listbridge-digests"
LOCK_NAME = "digest-scheduler"
STANDBY_SECONDS = 10.0  # how often a standby process tries for the lock, and the holder checks it

# The job in the database names a function, not an object; the function finds this
# process's scheduler here.
_running: DigestScheduler | None = None


def run_due() -> None:
    """The stored job."""
    if _running is not None:
        _running.run_due()


class DigestScheduler:
    """Starts and stops the digest job (digests queued are announced by their commit, see
    :mod:`forum.outbox_signal`). ``clock`` is for tests."""

    def __init__(
        self,
        site: Site,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        standby_seconds: float = STANDBY_SECONDS,
    ) -> None:
        self.engine = engine
        self.digests = Digests(site, engine)
        self._clock = clock
        self._standby_seconds = standby_seconds
        self._lock = site_lock(engine, LOCK_NAME)
        self._stopping = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self._thread = threading.Thread(target=self._lead, name="digest-scheduler", daemon=True)

    @property
    def leading(self) -> bool:
        """Whether this process runs the schedule (the others are on standby)."""
        return self._scheduler is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop; a run in progress ends after its current batch, and its rest stays owed."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._stop_schedule()
        self._lock.release()

    def _lead(self) -> None:
        """Run the schedule while holding the lock; otherwise wait on standby for it."""
        waiting_said = False
        while not self._stopping.is_set():
            try:
                if self._scheduler is None and self._lock.acquire():
                    self._start_schedule()
                elif self._scheduler is None and not waiting_said:
                    log.info(
                        "digest scheduler on standby: another process runs it; trying every %g s", self._standby_seconds
                    )
                    waiting_said = True
                elif self._scheduler is not None and not self._lock.held():
                    log.warning("digest scheduler lost its lock with its database connection; on standby")
                    self._stop_schedule()
                    waiting_said = False
            except Exception:  # the database is unreachable: try again later, as a standby would
                log.exception("digest scheduler could not take or check its lock")
            self._stopping.wait(self._standby_seconds)

    def _start_schedule(self) -> None:
        global _running
        _running = self
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        scheduler.start(paused=True)
        if scheduler.get_job(JOB_ID) is None:
            scheduler.add_job(
                f"{__name__}:run_due", CronTrigger(minute="*/15", timezone=UTC), id=JOB_ID, next_run_time=utcnow()
            )
        scheduler.resume()
        self._scheduler = scheduler
        job = scheduler.get_job(JOB_ID)
        log.info("digest scheduler started; next check at %s", job.next_run_time if job else "?")

    def _stop_schedule(self) -> None:
        global _running
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
        if _running is self:
            _running = None

    def run_due(self) -> None:
        now = self._clock()
        for period in PERIODS:
            try:
                self.digests.run(period, now, stop=self._stopping)
            except Exception:  # logged; the next check retries, and members' cursors keep it to once
                log.exception("digest run failed period=%s", period.value)
