"""Background jobs of the API (uploads to index, later reprocessing): one worker, FIFO.

Importing this module is light: the pipeline (torch, ffmpeg) loads in the worker thread when
the first job runs. Each job's record is also written as JSON under the data dir, so its
status can be read after the API restarts.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog.asset import utc_now
from catalog.settings import Settings


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"  # queued | running | done | failed
    created_at: str = field(default_factory=lambda: utc_now().isoformat())
    started_at: str | None = None
    finished_at: str | None = None
    total: int = 0
    done: int = 0
    current: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


JobWork = Callable[[Job, Callable[[int, int, str], None]], dict[str, Any]]


class JobRunner:
    def __init__(self, settings: Settings) -> None:
        self.folder = settings.data_dir / "jobs"
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, kind: str, work: JobWork) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], kind=kind)
        with self._lock:
            self._jobs[job.id] = job
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, daemon=True, name="jobs")
                self._worker.start()
        self._save(job)
        self._queue.put((job, work))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job or self._load(job_id)

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: True when every submitted job has finished."""
        deadline = datetime.now().timestamp() + timeout
        while datetime.now().timestamp() < deadline:
            with self._lock:
                busy = any(j.state in ("queued", "running") for j in self._jobs.values())
            if not busy:
                return True
            threading.Event().wait(0.05)
        return False

    def close(self, timeout: float) -> None:
        """Let the running job finish (up to `timeout`), then stop the worker."""
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            job, work = item
            job.state, job.started_at = "running", utc_now().isoformat()
            self._save(job)

            def progress(done: int, total: int, current: str, job: Job = job) -> None:
                job.done, job.total, job.current = done, total, current

            try:
                job.summary = work(job, progress)
                job.errors = [
                    {"path": a["path"], "status": a["status"], "reason": a["reason"]}
                    for a in job.summary.get("assets", [])
                    if a["status"] in ("failed", "skipped")
                ]
                job.state = "done"
            except Exception as exc:  # a job's failure is its record, not the worker's death
                job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
            job.finished_at, job.current = utc_now().isoformat(), None
            self._save(job)

    def _save(self, job: Job) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{job.id}.tmp"
            tmp.write_text(json.dumps(job.to_dict()))
            os.replace(tmp, self.folder / f"{job.id}.json")
        except OSError:
            pass  # the in-memory record still answers; persistence is best effort

    def _load(self, job_id: str) -> Job | None:
        if not job_id.isalnum():
            return None
        path: Path = self.folder / f"{job_id}.json"
        try:
            return Job(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
