"""Job records and worker heartbeats in OpenSearch: `<alias>-jobs` and `<alias>-workers`.

Plain indices beside the asset alias (like the audit log), created from mappings/ on first
use. A record's writes are compare-and-set on its seq_no/primary_term; a new record is
written with op_type=create, so an id is never taken twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from catalog.jobs import JobRecord, JobState, WorkerRecord
from catalog.opensearch_store import OpenSearchSide, VersionConflict, condition

JOBS = "jobs"
WORKERS = "workers"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _document(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "state": JobState(record.state).value,
        "created_at": _iso(record.created_at),
        "finished_at": _iso(record.finished_at),
        "doc": record.to_json(),
    }


class OpenSearchJobStore(OpenSearchSide):
    def _index(self, kind: str) -> str:
        return self._store.side_index(kind)

    def _call(self, request: Any, /, **kwargs: Any) -> Any:
        return self._store.call(request, **kwargs)

    @property
    def _client(self) -> Any:
        return self._store.client

    def check(self) -> str:
        return f"job records in {self._index(JOBS)} on {self._store.url}"

    def add(self, record: JobRecord) -> bool:
        try:
            self._call(
                self._client.index,
                index=self._index(JOBS),
                id=record.id,
                body=_document(record),
                refresh=True,
                op_type="create",
            )
        except VersionConflict:
            return False
        return True

    def get(self, job_id: str) -> JobRecord | None:
        found = self.read(job_id)
        return found[0] if found else None

    def read(self, job_id: str) -> tuple[JobRecord, str] | None:
        found = self._call(self._client.get, index=self._index(JOBS), id=job_id, ignore=404)
        if not found.get("found"):
            return None
        record = JobRecord.model_validate(found["_source"]["doc"])
        return record, f"{found['_seq_no']}:{found['_primary_term']}"

    def write(self, record: JobRecord, version: str) -> bool:
        try:
            self._call(
                self._client.index,
                index=self._index(JOBS),
                id=record.id,
                body=_document(record),
                refresh=True,
                **condition(version),
            )
        except VersionConflict:
            return False
        return True

    def list(
        self, limit: int, states: tuple[JobState, ...] = (), kind: str | None = None
    ) -> list[JobRecord]:
        filters: list[dict[str, Any]] = []
        if states:
            filters.append({"terms": {"state": [s.value for s in states]}})
        if kind:
            filters.append({"term": {"kind": kind}})
        body = {
            "query": {"bool": {"filter": filters}},
            "sort": [{"created_at": "desc"}, {"id": "desc"}],
            "size": limit,
        }
        response = self._call(self._client.search, index=self._index(JOBS), body=body)
        return [JobRecord.model_validate(h["_source"]["doc"]) for h in response["hits"]["hits"]]

    def counts(self) -> dict[str, int]:
        body = {"size": 0, "aggs": {"states": {"terms": {"field": "state", "size": 10}}}}
        response = self._call(self._client.search, index=self._index(JOBS), body=body)
        buckets = response["aggregations"]["states"]["buckets"]
        return {b["key"]: b["doc_count"] for b in buckets}

    def delete_finished_before(self, when: datetime) -> int:
        body = {"query": {"range": {"finished_at": {"lt": when.isoformat()}}}}
        response = self._call(
            self._client.delete_by_query, index=self._index(JOBS), body=body, refresh=True
        )
        return int(response.get("deleted", 0))

    def beat(self, worker: WorkerRecord) -> None:
        body = {"name": worker.name, "last_seen": _iso(worker.last_seen), "doc": worker.to_json()}
        self._call(
            self._client.index, index=self._index(WORKERS), id=worker.name, body=body, refresh=True
        )

    def workers(self) -> list[WorkerRecord]:
        body = {"query": {"match_all": {}}, "sort": [{"last_seen": "desc"}], "size": 1000}
        response = self._call(self._client.search, index=self._index(WORKERS), body=body)
        return [WorkerRecord.model_validate(h["_source"]["doc"]) for h in response["hits"]["hits"]]

    def drop_worker(self, name: str) -> None:
        self._call(
            self._client.delete, index=self._index(WORKERS), id=name, refresh=True, ignore=404
        )
