"""A real worker for tests that run the API in process: the worker's queue, tasks and Huey
consumer in background threads of the test process (the separate-process deployment is
tested in tests/test_worker_processes.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huey.consumer import Consumer

from catalog.jobs import JobRecord, JobStore
from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.stores import LazyStore
from smarttags.worker import Upkeep, build_queue

DONE_STATES = ("done", "failed")


class _ThreadConsumer(Consumer):
    """Huey's consumer, run from a non-main thread: signals stay the test runner's."""

    def _set_signal_handlers(self) -> None:
        pass


@contextmanager
def worker_thread(settings: Settings, concurrency: int = 1) -> Iterator[JobQueue]:
    stores = LazyStore(settings)
    queue = build_queue(settings, stores)
    consumer = _ThreadConsumer(
        queue.huey,
        workers=concurrency,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        max_delay=0.2,
    )
    upkeep = Upkeep(queue, concurrency)
    runner = threading.Thread(target=consumer.run, daemon=True, name="test-worker")
    runner.start()
    upkeep.start()
    try:
        yield queue
    finally:
        consumer.stop(graceful=True)
        runner.join(60)
        upkeep.stopped.set()
        upkeep.join()
        queue.close()
        stores.close()


def wait_for_job(jobs: JobStore, job_id: str, timeout: float = 120) -> JobRecord:
    """The job's record once it is done or failed."""
    deadline = time.monotonic() + timeout
    while True:
        record = jobs.get(job_id)
        if record is not None and record.state in DONE_STATES:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end within {timeout} s: {record}")
        time.sleep(0.05)


def wait_for_job_http(client: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The job as `GET /jobs/{id}` shows it, once it is done or failed."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/jobs/{job_id}").json()
        if body.get("state") in DONE_STATES:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end within {timeout} s: {body}")
        time.sleep(0.05)
