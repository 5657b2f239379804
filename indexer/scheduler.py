"""Training and custom tagging on cron schedules, for `smarttags serve`.

A daemon thread wakes when the earliest entry is due (and at least every
schedule_max_sleep_s, so a changed wall clock is noticed), and submits the due entries to the
JobRunner: training on settings.training_cron, tagging (a scheduled autotag run) on
settings.tagging_cron, both in the server's local time unless a zone is given. An entry whose
previous job is still queued or running is not submitted again; its next time is computed
from now, so a stopped server does not replay the runs it missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from croniter import croniter

from catalog.settings import Settings
from indexer.jobs import Job, JobRunner, JobWork
from indexer.training_jobs import StoreGetter, autotag_work, training_work

log = logging.getLogger("smarttags.scheduler")

Clock = Callable[[], datetime]
Wait = Callable[[float], object]  # sleeps up to the given seconds; may return early
_ACTIVE = ("queued", "running")


@dataclass
class _Entry:
    kind: str
    cron: str
    work: JobWork
    due: datetime
    job: Job | None = None


def next_time(cron: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `cron` names, in after's time zone."""
    return croniter(cron, after).get_next(datetime)


def check_cron(name: str, cron: str) -> None:
    if not croniter.is_valid(cron):
        raise ValueError(f"{name} {cron!r} is not a valid cron expression (e.g. '30 0 * * 6')")


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        jobs: JobRunner,
        get_store: StoreGetter,
        now: Clock | None = None,
        wait: Wait | None = None,
        zone: tzinfo | None = None,
    ) -> None:
        check_cron("training_cron", settings.training_cron)
        check_cron("tagging_cron", settings.tagging_cron)
        self._settings = settings
        self._jobs = jobs
        self._zone = zone
        self._clock = now or datetime.now  # naive local time
        self._stopped = threading.Event()
        self._wait = wait or self._stopped.wait
        self._thread: threading.Thread | None = None
        start = self._now()
        self._entries = [
            _Entry(
                "scheduled-train",
                settings.training_cron,
                training_work(settings, get_store),
                next_time(settings.training_cron, start),
            ),
            _Entry(
                "scheduled-autotag",
                settings.tagging_cron,
                autotag_work(settings, get_store, scheduled=True),
                next_time(settings.tagging_cron, start),
            ),
        ]

    def _now(self) -> datetime:
        """Without a zone: naive local wall-clock time, so that "00:30" stays 00:30 across
        daylight-saving changes. With one: aware, in that zone."""
        current = self._clock()
        if self._zone is None:
            return current if current.tzinfo is None else current.astimezone().replace(tzinfo=None)
        if current.tzinfo is None:
            current = current.astimezone()  # a naive clock reads local time
        return current.astimezone(self._zone)

    def next_runs(self) -> dict[str, datetime]:
        """When each entry runs next, e.g. for `serve` to print at start."""
        return {entry.kind: entry.due for entry in self._entries}

    def run_due(self) -> list[Job]:
        """Submit every entry whose time has come; returns the jobs submitted."""
        current = self._now()
        submitted = []
        for entry in self._entries:
            if current < entry.due:
                continue
            if entry.job is not None and entry.job.state in _ACTIVE:
                log.warning(
                    "%s is due but job %s is still %s", entry.kind, entry.job.id, entry.job.state
                )
            else:
                entry.job = self._jobs.submit(entry.kind, entry.work)
                submitted.append(entry.job)
            entry.due = next_time(entry.cron, current)
        return submitted

    def seconds_to_next(self) -> float:
        earliest = min(entry.due for entry in self._entries)
        remaining = (earliest - self._now()).total_seconds()
        return min(max(remaining, 0.0), self._settings.schedule_max_sleep_s)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="scheduler")
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self.run_due()
            except Exception:  # a failed submission must not end the schedule
                log.exception("scheduler tick failed")
            self._wait(self.seconds_to_next())
