"""Job records and worker heartbeats in their own SQLite file under the data dir (WAL).

Apart from the catalog's file on purpose: progress is written every second or so by every
running job, and those small writes should neither wait for nor delay catalog writes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from catalog.jobs import JobRecord, JobState, WorkerRecord
from catalog.settings import Settings
from catalog.sqlite_side import SideDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  finished_at TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE TABLE IF NOT EXISTS workers (
  name TEXT PRIMARY KEY,
  last_seen TEXT NOT NULL,
  doc TEXT NOT NULL
);
"""


def _sortable(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteJobStore(SideDatabase):
    def __init__(self, settings: Settings) -> None:
        path = settings.data_dir / settings.jobs_file
        super().__init__(path, settings.sqlite_busy_timeout_s, _SCHEMA, "the job records")

    def check(self) -> str:
        self._conn().execute("SELECT COUNT(*) FROM jobs").fetchone()
        return f"job records in {self.path}"

    def add(self, record: JobRecord) -> bool:
        try:
            self._conn().execute(
                "INSERT INTO jobs (id, kind, state, created_at, finished_at, doc) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self._row(record),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    @staticmethod
    def _row(record: JobRecord) -> tuple:
        return (
            record.id,
            record.kind,
            JobState(record.state).value,
            _sortable(record.created_at),
            _sortable(record.finished_at),
            record.model_dump_json(),
        )

    def get(self, job_id: str) -> JobRecord | None:
        found = self.read(job_id)
        return found[0] if found else None

    def read(self, job_id: str) -> tuple[JobRecord, str] | None:
        row = self._conn().execute(
            "SELECT doc, version FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            return None
        return JobRecord.model_validate_json(row[0]), str(row[1])

    def write(self, record: JobRecord, version: str) -> bool:
        _id, _kind, state, _created, finished, doc = self._row(record)
        cursor = self._conn().execute(
            "UPDATE jobs SET state = ?, finished_at = ?, doc = ?, version = version + 1 "
            "WHERE id = ? AND version = ?",
            (state, finished, doc, record.id, int(version)),
        )
        return cursor.rowcount == 1

    def list(
        self, limit: int, states: tuple[JobState, ...] = (), kind: str | None = None
    ) -> list[JobRecord]:
        where, params = ["1"], []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            params.extend(s.value for s in states)
        if kind:
            where.append("kind = ?")
            params.append(kind)
        rows = self._conn().execute(
            f"SELECT doc FROM jobs WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [JobRecord.model_validate_json(doc) for (doc,) in rows]

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {state: count for state, count in rows}

    def delete_finished_before(self, when: datetime) -> int:
        cursor = self._conn().execute(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?",
            (_sortable(when),),
        )
        return cursor.rowcount

    def beat(self, worker: WorkerRecord) -> None:
        self._conn().execute(
            "INSERT INTO workers (name, last_seen, doc) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen, doc = excluded.doc",
            (worker.name, _sortable(worker.last_seen), worker.model_dump_json()),
        )

    def workers(self) -> list[WorkerRecord]:
        rows = self._conn().execute("SELECT doc FROM workers ORDER BY last_seen DESC")
        return [WorkerRecord.model_validate_json(doc) for (doc,) in rows]

    def drop_worker(self, name: str) -> None:
        self._conn().execute("DELETE FROM workers WHERE name = ?", (name,))
