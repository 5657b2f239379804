"""`smarttags worker`: the process that runs jobs (uploads to index, reprocess, training,
autotag and the scheduled runs) from the queue, with a heartbeat and the queue's upkeep."""

from __future__ import annotations

import logging
import threading

from catalog.jobs import utc_now
from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.stores import LazyStore
from indexer.tasks import WorkerTasks

log = logging.getLogger("smarttags.worker")


class Upkeep(threading.Thread):
    """Every few seconds: this worker's heartbeat, recovery of jobs whose worker died, and
    expiry of old records. Errors are logged; the worker goes on."""

    def __init__(self, queue: JobQueue, concurrency: int) -> None:
        super().__init__(daemon=True, name="upkeep")
        self.queue = queue
        self.concurrency = concurrency
        self.started_at = utc_now()
        self.stopped = threading.Event()

    def run(self) -> None:
        settings = self.queue.settings
        interval = min(settings.worker_heartbeat_s, settings.maintenance_interval_s)
        last_upkeep = 0.0
        while True:
            self._safely(self.queue.beat, self.started_at, self.concurrency)
            now = utc_now().timestamp()
            if now - last_upkeep >= settings.maintenance_interval_s:
                last_upkeep = now
                recovered = self._safely(self.queue.recover) or []
                for job_id in recovered:
                    log.warning("job %s: its worker stopped; queued again or failed", job_id)
                self._safely(self.queue.expire)
            if self.stopped.wait(interval):
                return

    @staticmethod
    def _safely(step, *args):
        try:
            return step(*args)
        except Exception:  # the backend may be down for a while; try again next round
            log.warning("worker upkeep failed", exc_info=True)
            return None


def build_queue(settings: Settings, stores: LazyStore) -> JobQueue:
    """The queue with every task of this worker, and the schedule when it is enabled."""
    queue = JobQueue(settings)
    for kind, handler in WorkerTasks(settings, stores.get).handlers().items():
        queue.register(kind, handler)
    if settings.schedule_enabled:
        queue.schedule("train", settings.training_cron, {"folder": "", "tags": []})
        autotag = {"folder": "", "force": False, "scheduled": True}
        queue.schedule("autotag", settings.tagging_cron, autotag)
    return queue


def run_worker(settings: Settings, concurrency: int) -> None:
    """Run until SIGINT (finish the running jobs, then stop) or SIGTERM (stop now: the
    running jobs are queued again for another worker)."""
    stores = LazyStore(settings)
    queue = build_queue(settings, stores)
    upkeep = Upkeep(queue, concurrency)
    upkeep.start()
    log.warning(
        "worker %s: %d job(s) at a time from %s%s",
        queue.worker_name,
        concurrency,
        queue.describe(),
        "; scheduled training and tagging on" if settings.schedule_enabled else "",
    )
    try:
        queue.consumer(concurrency).run()
    finally:
        upkeep.stopped.set()
        upkeep.join()
        try:
            queue.jobs.drop_worker(queue.worker_name)
        except Exception:
            log.warning("cannot remove this worker's heartbeat record", exc_info=True)
        queue.close()
        stores.close()
