"""The job queue: Huey, on SQLite under the data dir by default, on Redis for several machines.

The queue carries only job ids; what a job is and how far it got is its record
(catalog/jobs.py). The API submits: it writes the record, then enqueues the id. A worker
(`smarttags worker`) runs the consumer: it claims the record by compare-and-set (so two
workers never run one job), runs the handler registered for the job's kind, writes progress
and a heartbeat every `job_heartbeat_s`, and ends the record `done` or `failed`.

Huey forgets a message once a worker has taken it, so a worker killed mid-job would leave its
record `running` forever. `recover` (run by every worker at start and every
`maintenance_interval_s`) finds running records whose heartbeat is older than
`job_stale_after_s` and queues them again, up to `job_max_attempts`, then fails them with the
reason. It also re-enqueues queued records whose message was lost, and expires old records.

Scheduled training and tagging are Huey periodic tasks, registered only by workers: a
search-only install never loads a model. Their job id names the minute they are due, so
several workers that all fire at that minute start one job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from huey import Huey, RedisHuey, SqliteHuey
from huey.signals import SIGNAL_INTERRUPTED

from catalog.jobs import (
    JobRecord,
    JobState,
    JobStore,
    WorkerRecord,
    change,
    new_job_id,
    open_job_store,
    utc_now,
)
from catalog.settings import Settings
from catalog.store import BackendUnavailable
from catalog.urls import redact

log = logging.getLogger("smarttags.queue")

RUN_TASK = "smarttags.run_job"
SCHEDULE_ACTOR = "schedule"

Progress = Callable[[int, int, str | None], None]
# a job's work: its params and a progress callback in, a summary out (shown when done)
Handler = Callable[[dict[str, Any], Progress], dict[str, Any]]
_ERROR_STATES = ("failed", "skipped")


class QueueUnavailable(BackendUnavailable):
    """The queue cannot be reached (Redis down); nothing was queued."""


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url, results=False, utc=True)
    path = settings.data_dir / settings.queue_file
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        settings.queue_name,
        filename=str(path),
        results=False,
        utc=True,
        timeout=settings.sqlite_busy_timeout_s,
    )


def local_minute(moment: datetime) -> datetime:
    """A UTC time (naive, as Huey passes it, or aware) as naive local time to the minute."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone().replace(tzinfo=None, second=0, microsecond=0)


def next_run(cron: str, after: datetime | None = None) -> datetime:
    """The first local time strictly after `after` (default now) that `cron` names."""
    start = after or datetime.now()
    return croniter(cron, start).get_next(datetime)


def cron_due(cron: str, moment: datetime) -> bool:
    """Whether `cron` (server local time) names the minute of `moment` (UTC)."""
    return croniter.match(cron, local_minute(moment))


def error_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a job could not process, from its summary's `assets` list."""
    return [
        {"path": a.get("path"), "status": a.get("status"), "reason": a.get("reason")}
        for a in summary.get("assets", [])
        if a.get("status") in _ERROR_STATES
    ]


@dataclass
class _Claim:
    """A job this worker runs: the attempt it claimed, and the progress not yet written."""

    job_id: str
    attempt: int
    done: int = 0
    total: int = 0
    current: str | None = None
    lost: bool = False  # another worker (or the recovery) took the job meanwhile
    stop: threading.Event = field(default_factory=threading.Event)


class JobQueue:
    def __init__(
        self, settings: Settings, jobs: JobStore | None = None, worker_name: str | None = None
    ) -> None:
        self.settings = settings
        self._jobs = jobs
        self._jobs_lock = threading.Lock()
        self.huey = make_huey(settings)
        self._enqueue = self.huey.task(name=RUN_TASK, retries=0)(self._run)
        self._handlers: dict[str, Handler] = {}
        self.worker_name = worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self._claims: dict[str, _Claim] = {}
        self._claims_lock = threading.Lock()
        self.huey.signal(SIGNAL_INTERRUPTED)(self._interrupted)

    @property
    def jobs(self) -> JobStore:
        with self._jobs_lock:
            if self._jobs is None:
                self._jobs = open_job_store(self.settings)
            return self._jobs

    def describe(self) -> str:
        if self.settings.redis_url:
            return redact(self.settings.redis_url)
        return f"sqlite:{self.settings.data_dir / self.settings.queue_file}"

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.close()

    # the producer's side (API, CLI)
    def submit(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        actor: str | None = None,
        job_id: str | None = None,
    ) -> JobRecord | None:
        """Record and enqueue a job; None when a job with `job_id` exists already."""
        record = JobRecord(id=job_id or new_job_id(), kind=kind, params=params or {}, actor=actor)
        if not self.jobs.add(record):
            return None
        try:
            self._enqueue(record.id)
        except Exception as exc:  # a broker outage: the record must not say "queued"
            reason = f"the queue at {self.describe()} cannot be reached: {exc}"
            change(self.jobs, record.id, lambda r: _ended(r, JobState.failed, reason))
            raise QueueUnavailable(
                f"{reason}; check SMARTTAGS_REDIS_URL and that Redis is running"
            ) from None
        return record

    def ping(self) -> str:
        """Raises QueueUnavailable when the queue cannot be read."""
        try:
            size = self.huey.pending_count()
        except Exception as exc:
            raise QueueUnavailable(
                f"the queue at {self.describe()} cannot be reached: {exc}"
            ) from None
        return f"{size} waiting in {self.describe()}"

    def pending_ids(self) -> set[str]:
        return {str(task.args[0]) for task in self.huey.pending() if task.args}

    # the worker's side
    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def running(self) -> list[str]:
        with self._claims_lock:
            return list(self._claims)

    def claim(self, job_id: str) -> JobRecord | None:
        """Take a queued job for this worker (compare-and-set); None when it is not queued."""
        return change(self.jobs, job_id, self._claim)

    def _run(self, job_id: str) -> None:
        claimed = self.claim(job_id)
        if claimed is None:
            log.info("job %s is not queued any more (another worker has it, or it ended)", job_id)
            return
        claim = _Claim(job_id, claimed.attempt)
        with self._claims_lock:
            self._claims[job_id] = claim
        beats = threading.Thread(target=self._beat, args=(claim,), daemon=True, name="job-beat")
        beats.start()
        try:
            state, summary, message = self._work(claimed, claim)
        finally:
            claim.stop.set()
            beats.join()
            with self._claims_lock:
                self._claims.pop(job_id, None)
        self._finish(claim, state, summary, message)

    def _claim(self, record: JobRecord) -> JobRecord | None:
        if record.state != JobState.queued:
            return None
        now = utc_now()
        return record.model_copy(
            update={
                "state": JobState.running,
                "worker": self.worker_name,
                "attempt": record.attempt + 1,
                "started_at": now,
                "heartbeat_at": now,
                "message": None,
            }
        )

    def _work(
        self, record: JobRecord, claim: _Claim
    ) -> tuple[JobState, dict[str, Any] | None, str | None]:
        handler = self._handlers.get(record.kind)
        if handler is None:
            return JobState.failed, None, f"this worker has no task of kind {record.kind!r}"

        def progress(done: int, total: int, current: str | None = None) -> None:
            claim.done, claim.total, claim.current = done, total, current

        try:
            return JobState.done, handler(record.params, progress), None
        except Exception as exc:  # a job's failure is its record, not the worker's death
            log.exception("job %s (%s) failed", record.id, record.kind)
            return JobState.failed, None, f"{type(exc).__name__}: {exc}"

    def _mine(self, claim: _Claim) -> Callable[[JobRecord], bool]:
        def check(record: JobRecord) -> bool:
            return (
                record.state == JobState.running
                and record.worker == self.worker_name
                and record.attempt == claim.attempt
            )

        return check

    def _beat(self, claim: _Claim) -> None:
        mine = self._mine(claim)

        def update(record: JobRecord) -> JobRecord | None:
            if not mine(record):
                claim.lost = True
                return None
            record.heartbeat_at = utc_now()
            record.done, record.total, record.current = claim.done, claim.total, claim.current
            return record

        while not claim.stop.wait(self.settings.job_heartbeat_s):
            try:
                change(self.jobs, claim.job_id, update)
            except Exception:  # an outage of the record store must not stop the job
                log.warning("cannot write the progress of job %s", claim.job_id, exc_info=True)

    def _finish(
        self,
        claim: _Claim,
        state: JobState,
        summary: dict[str, Any] | None,
        message: str | None,
    ) -> None:
        mine = self._mine(claim)

        def update(record: JobRecord) -> JobRecord | None:
            if not mine(record):
                return None
            record.summary = summary
            record.errors = error_rows(summary or {})
            record.done = max(claim.done, record.done)
            record.total = max(claim.total, record.total)
            return _ended(record, state, message)

        if change(self.jobs, claim.job_id, update) is None:
            log.warning("job %s was taken over while this worker ran it", claim.job_id)

    def _interrupted(self, signal: str, task: Any, *_: Any) -> None:
        """The consumer stops with this job unfinished: queue it again for another worker."""
        job_id = str(task.args[0]) if task.args else None
        claim = self._claims.get(job_id or "")
        if claim is not None:
            self._requeue(claim.job_id, f"requeued: worker {self.worker_name} stopped")

    def _requeue(self, job_id: str, reason: str, attempt: int | None = None) -> bool:
        def update(record: JobRecord) -> JobRecord | None:
            if record.state != JobState.running:
                return None
            if attempt is not None and record.attempt != attempt:
                return None
            if record.attempt >= self.settings.job_max_attempts:
                gave_up = f"{reason}; gave up after {record.attempt} attempt(s)"
                return _ended(record, JobState.failed, gave_up)
            # the heartbeat marks when it was queued again (see _resend_lost)
            update = {"state": JobState.queued, "worker": None, "message": reason}
            return record.model_copy(update={**update, "heartbeat_at": utc_now()})

        updated = change(self.jobs, job_id, update)
        if updated is not None and updated.state == JobState.queued:
            self._enqueue(job_id)
            return True
        return False

    # maintenance, run by workers
    def recover(self, now: datetime | None = None) -> list[str]:
        """Queue again (or fail) the jobs of workers that stopped; returns their ids."""
        now = now or utc_now()
        stale = now - timedelta(seconds=self.settings.job_stale_after_s)
        recovered = []
        for record in self.jobs.list(1000, states=(JobState.running,)):
            seen = record.heartbeat_at or record.started_at or record.created_at
            if seen < stale:
                reason = f"worker {record.worker} stopped responding"
                self._requeue(record.id, reason, attempt=record.attempt)
                recovered.append(record.id)
        recovered.extend(self._resend_lost(stale))
        return recovered

    def _resend_lost(self, stale: datetime) -> list[str]:
        """Queued records older than `stale` with no message on the queue: taken by a worker
        that died before it could claim them."""
        waiting = self.jobs.list(1000, states=(JobState.queued,))
        old = [r for r in waiting if (r.heartbeat_at or r.created_at) < stale]
        if not old:
            return []
        pending = self.pending_ids()
        lost = [r.id for r in old if r.id not in pending]
        for job_id in lost:
            change(self.jobs, job_id, _touched)
            self._enqueue(job_id)
        return lost

    def expire(self, now: datetime | None = None) -> int:
        now = now or utc_now()
        return self.jobs.delete_finished_before(
            now - timedelta(hours=self.settings.job_retention_h)
        )

    def beat(self, started_at: datetime, concurrency: int) -> WorkerRecord:
        host, _, pid = self.worker_name.rpartition(":")
        record = WorkerRecord(
            name=self.worker_name,
            host=host,
            pid=int(pid) if pid.isdigit() else os.getpid(),
            started_at=started_at,
            last_seen=utc_now(),
            concurrency=concurrency,
            queue=self.describe(),
            running=self.running(),
        )
        self.jobs.beat(record)
        return record

    def live_workers(self, now: datetime | None = None) -> list[WorkerRecord]:
        now = now or utc_now()
        fresh = now - timedelta(seconds=3 * self.settings.worker_heartbeat_s)
        return [w for w in self.jobs.workers() if w.last_seen >= fresh]

    # scheduled runs (workers only)
    def schedule(self, kind: str, cron: str, params: dict[str, Any]) -> None:
        """A job of `kind` on the cron schedule (settings validate the expression)."""

        def due(moment: datetime) -> bool:
            return cron_due(cron, moment)

        def submit_due() -> None:
            self.submit_scheduled(kind, params, utc_now())

        self.huey.periodic_task(due, name=f"smarttags.schedule.{kind}")(submit_due)

    def submit_scheduled(
        self, kind: str, params: dict[str, Any], moment: datetime
    ) -> JobRecord | None:
        """The scheduled job of `moment`'s minute; None when another worker submitted it, or
        the previous one of this kind is still queued or running."""
        active = self.jobs.list(1, states=(JobState.queued, JobState.running), kind=kind)
        if active:
            log.warning("%s is due but job %s is still %s", kind, active[0].id, active[0].state)
            return None
        stamp = local_minute(moment).strftime("%Y%m%d%H%M")
        return self.submit(kind, params, actor=SCHEDULE_ACTOR, job_id=f"{kind}-{stamp}")

    def consumer(self, concurrency: int) -> Any:
        return self.huey.create_consumer(
            workers=concurrency,
            worker_type="thread",
            periodic=True,
            initial_delay=self.settings.queue_poll_initial_s,
            backoff=self.settings.queue_poll_backoff,
            max_delay=self.settings.queue_poll_max_s,
            check_worker_health=True,
        )


def _ended(record: JobRecord, state: JobState, message: str | None) -> JobRecord:
    record.state, record.message = state, message
    record.finished_at, record.current = utc_now(), None
    return record


def _touched(record: JobRecord) -> JobRecord | None:
    """A queued record sent again: its heartbeat marks when, so it is not resent at once."""
    if record.state != JobState.queued:
        return None
    record.heartbeat_at = utc_now()
    return record
