"""Job records: what a queued piece of work is, how far it got and how it ended.

The API (or the CLI) creates a record, `queued`, and puts its id on the queue
(catalog/queue.py); a worker claims it (`running`), reports progress and a heartbeat while it
works, and ends it (`done` or `failed`). Records live where the API and every worker see
them: a SQLite file under the data dir (catalog/sqlite_jobs.py) or an OpenSearch index beside
the asset alias (catalog/opensearch_jobs.py). Workers leave a heartbeat record of their own, so
`/healthz` can tell whether any worker is alive.

Every change of a record is a compare-and-set on its version (`JobStore.change`), so two
workers never both claim one job and a worker that lost its claim cannot overwrite the record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from catalog.settings import Settings


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


ACTIVE_STATES = (JobState.queued, JobState.running)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


class JobRecord(BaseModel):
    """One job; `to_json` is what `GET /jobs/{id}` and `smarttags jobs --json` show."""

    model_config = ConfigDict(extra="ignore")

    id: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    state: JobState = JobState.queued
    actor: str | None = None  # who asked for it (the audit log's actor form)
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    worker: str | None = None
    attempt: int = 0  # how many times a worker started it
    total: int = 0
    done: int = 0
    current: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    summary: dict[str, Any] | None = None
    message: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class WorkerRecord(BaseModel):
    """A worker process's heartbeat."""

    model_config = ConfigDict(extra="ignore")

    name: str  # host:pid
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    concurrency: int
    queue: str  # where it takes jobs from (no credentials)
    running: list[str] = Field(default_factory=list)  # job ids

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


Change = Callable[[JobRecord], JobRecord | None]


class JobStore(Protocol):
    """Job records and worker heartbeats; every process of a deployment sees the same."""

    def add(self, record: JobRecord) -> bool:
        """Store a new record; False when one with that id exists already."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def read(self, job_id: str) -> tuple[JobRecord, str] | None:
        """The record and its version, for `write`."""
        ...

    def write(self, record: JobRecord, version: str) -> bool:
        """Replace the record if it is still at `version`; False when another writer came first."""
        ...

    def list(
        self, limit: int, states: tuple[JobState, ...] = (), kind: str | None = None
    ) -> list[JobRecord]:
        """Newest first."""
        ...

    def counts(self) -> dict[str, int]:
        """Records by state."""
        ...

    def delete_finished_before(self, when: datetime) -> int: ...

    def beat(self, worker: WorkerRecord) -> None: ...

    def workers(self) -> list[WorkerRecord]: ...

    def drop_worker(self, name: str) -> None: ...

    def check(self) -> str: ...

    def close(self) -> None: ...


def change(
    jobs: JobStore, job_id: str, update: Change, retries: int = 20
) -> JobRecord | None:
    """Apply `update` to the stored record as a compare-and-set, retried on conflicts.

    `update` returns the new record, or None to leave the record alone (then None is
    returned). None too when there is no such job."""
    for _ in range(retries + 1):
        found = jobs.read(job_id)
        if found is None:
            return None
        record, version = found
        updated = update(record.model_copy(deep=True))
        if updated is None:
            return None
        if jobs.write(updated, version):
            return updated
    raise JobConflict(f"job {job_id} kept changing under every retry")


class JobConflict(RuntimeError):
    """A job record kept changing under every compare-and-set retry."""


def open_job_store(settings: Settings) -> JobStore:
    """Job records beside the catalog: OpenSearch when it is the backend, else SQLite."""
    if settings.effective_backend == "opensearch":
        from catalog.opensearch_jobs import OpenSearchJobStore

        return OpenSearchJobStore(settings)
    from catalog.sqlite_jobs import SqliteJobStore

    return SqliteJobStore(settings)
