"""`GET /metrics`: the Prometheus text format, through prometheus_client.

Every app has a registry of its own (tests create several apps in one process). Two kinds
of figures:

- request latency, by method, route template and status: a histogram this process observes
  (ASGI middleware), so each API replica reports its own requests;
- the deployment's state, read from the shared stores when Prometheus scrapes (a custom
  collector), so every replica reports the same truth: job records by state, live workers,
  assets in the catalog, and the indexing rate.

The indexing rate comes from the job records, not from the workers: workers expose no HTTP
port, so Prometheus need not find each worker on each machine, and the figure survives a
worker restart. Over the last `metrics_rate_window_s`, the files that indexing jobs
(uploads and reprocessing) processed are prorated by how much of each job's run fell in the
window: `smarttags_indexing_files_per_second` divides them by the window (the throughput of
all workers together), `smarttags_indexing_files_per_busy_second` by the seconds those jobs
ran there (the indexer's speed, without idle time). CLI runs (`smarttags index`) make no job
records and are not counted.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.jobs import JobRecord, JobState, JobStore, utc_now
from catalog.keys import Role
from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.store import StoreError
from catalog.stores import LazyStore
from query.auth import role_router

log = logging.getLogger("smarttags.metrics")
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable

PREFIX = "smarttags"
INDEXING_KINDS = ("index", "reprocess")  # job kinds whose progress counts files
UNMATCHED = "(unmatched)"  # the route label of requests no route answered (bounded labels)
SERVER_ERROR = 500


@dataclass(frozen=True)
class IndexingRate:
    files: float  # files processed within the window, prorated by each job's share in it
    busy_s: float  # seconds the indexing jobs ran within the window, summed over jobs
    window_s: float

    @property
    def per_second(self) -> float:
        return self.files / self.window_s

    @property
    def per_busy_second(self) -> float:
        return self.files / self.busy_s if self.busy_s > 0 else 0.0


def indexing_rate(records: Iterable[JobRecord], now: datetime, window_s: float) -> IndexingRate:
    """Files processed by these jobs within the `window_s` before `now`, assuming each job
    processed its files at an even pace while it ran."""
    start = now - timedelta(seconds=window_s)
    files = busy = 0.0
    for record in records:
        if record.started_at is None:
            continue
        if record.finished_at is not None:
            end = record.finished_at
        elif record.state is JobState.running:
            end = now
        else:  # queued again after its worker died: its progress is in the next attempt
            continue
        ran = (end - record.started_at).total_seconds()
        inside = (min(end, now) - max(record.started_at, start)).total_seconds()
        if ran > 0 and inside > 0:
            files += record.done * inside / ran
            busy += inside
        elif ran <= 0 and start <= end <= now:  # done in no measurable time
            files += record.done
    return IndexingRate(files, busy, window_s)


def recent_indexing_jobs(jobs: JobStore, limit: int) -> list[JobRecord]:
    states = (JobState.running, JobState.done, JobState.failed)
    return [r for kind in INDEXING_KINDS for r in jobs.list(limit, states, kind)]


class DeploymentCollector(Collector):
    """Figures read from the shared stores at each scrape. A store that cannot be read
    leaves its figures out and says so in `smarttags_metrics_source_up`."""

    def __init__(self, settings: Settings, stores: LazyStore, queue: JobQueue) -> None:
        self.settings = settings
        self.stores = stores
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            f"{PREFIX}_metrics_source_up",
            "Whether the figures from this source could be read at this scrape (1) or not (0)",
            labels=["source"],
        )
        for source, read in (("store", self._store), ("jobs", self._jobs)):
            try:
                families = list(read())
            except (StoreError, OSError) as exc:
                log.warning("metrics: cannot read the %s: %s", source, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _store(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_assets",
            "Assets in the catalog (every status)",
            value=self.stores.get().count(),
        )

    def _jobs(self) -> Iterator[Metric]:
        jobs = self.queue.jobs
        counts = jobs.counts()
        by_state = GaugeMetricFamily(
            f"{PREFIX}_jobs",
            "Job records by state (finished records are kept job_retention_h)",
            labels=["state"],
        )
        for state in JobState:
            by_state.add_metric([state.value], counts.get(state.value, 0))
        yield by_state
        yield GaugeMetricFamily(
            f"{PREFIX}_workers_alive",
            "Worker processes whose heartbeat is fresh",
            value=len(self.queue.live_workers()),
        )
        window = self.settings.metrics_rate_window_s
        rate = indexing_rate(
            recent_indexing_jobs(jobs, self.settings.metrics_rate_max_jobs), utc_now(), window
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_indexing_files_per_second",
            f"Files indexed per second over the last {window:g} s, all workers together "
            "(upload and reprocess jobs)",
            value=rate.per_second,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_indexing_files_per_busy_second",
            f"Files indexed per second of indexing over the last {window:g} s (idle time "
            "left out; 0 when nothing was indexed)",
            value=rate.per_busy_second,
        )


class RequestTimer:
    """ASGI middleware: each HTTP request's duration, labelled with the route template (as
    `/assets/{asset_id}`), so labels stay few whatever the paths requested."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = SERVER_ERROR  # unless a response starts: an error escaped the app

        async def note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, note_status)
        finally:
            # the router wrote the matched route into the scope on the way in
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            elapsed = time.perf_counter() - started
            self.histogram.labels(scope["method"], route, str(status)).observe(elapsed)


class Metrics:
    """One app's registry and what fills it."""

    def __init__(self, settings: Settings, stores: LazyStore, queue: JobQueue) -> None:
        self.registry = CollectorRegistry()
        # Several API processes (`api_workers`) share one scrape: prometheus_client's
        # multiprocess mode keeps each process's samples in files under the directory `serve`
        # names, and every process reports the sum of them all.
        shared = os.environ.get(MULTIPROCESS_DIR)
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ["method", "route", "status"],
            registry=None if shared else self.registry,
        )
        if shared:
            MultiProcessCollector(self.registry, path=shared)
        self.registry.register(DeploymentCollector(settings, stores, queue))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


router = role_router(Role.reader, tags=["health"])


PROMETHEUS_TEXT = {200: {"content": {"text/plain": {}}, "description": "Prometheus text"}}


@router.get("/metrics", response_class=Response, responses=PROMETHEUS_TEXT)
def metrics(request: Request) -> Response:
    """Prometheus metrics: request latency by route, jobs by state, live workers, assets,
    indexing rate."""
    found: Metrics = request.app.state.metrics
    return Response(found.exposition(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI, settings: Settings, stores: LazyStore, queue: JobQueue) -> None:
    app.state.metrics = Metrics(settings, stores, queue)
    app.add_middleware(RequestTimer, histogram=app.state.metrics.latency)
    app.include_router(router)
