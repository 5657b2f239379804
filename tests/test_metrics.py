"""`GET /metrics` on a real app: request latency by route template, and the deployment's
figures (jobs, workers, assets, indexing rate) changing as searches and jobs run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from catalog.jobs import JobRecord, JobState
from catalog.sqlite_keys import SqliteKeyStore
from catalog.sqlite_store import SqliteStore
from query.api import create_app
from query.metrics import indexing_rate
from tests.backends import make_settings
from tests.fixtures import asset, tag
from tests.test_pipeline import settings_for
from tests.workers import wait_for_job_http, worker_thread

pytest_plugins = ["tests.media", "tests.test_pipeline"]

LATENCY = "smarttags_http_request_duration_seconds"


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def requests_of(samples, route: str, status: str = "200", method: str = "GET") -> float:
    labels = (("method", method), ("route", route), ("status", status))
    return samples.get((f"{LATENCY}_count", labels), 0.0)


@pytest.fixture
def catalog_client(tmp_path):
    settings = make_settings(tmp_path)
    store = SqliteStore(settings)
    store.upsert_many([asset("a1", title="Beach dog", smart_tags=[tag("dog", 0.9)])])
    with TestClient(create_app(settings, store)) as client:
        yield client


def test_latency_is_counted_by_route_template(catalog_client):
    before = scrape(catalog_client)
    for query in ("dog", "beach", "cat"):
        assert catalog_client.get("/search", params={"q": query}).status_code == 200
    catalog_client.get("/assets/a1")
    catalog_client.get("/assets/nope")
    catalog_client.get("/no/such/path")
    after = scrape(catalog_client)
    assert requests_of(after, "/search") - requests_of(before, "/search") == 3
    assert requests_of(after, "/assets/{asset_id}") == 1
    assert requests_of(after, "/assets/{asset_id}", "404") == 1
    assert requests_of(after, "(unmatched)", "404") == 1
    # no label per concrete path: the histogram's label sets stay bounded
    assert not any("a1" in dict(labels).get("route", "") for _, labels in after)
    search = (("method", "GET"), ("route", "/search"), ("status", "200"))
    assert after[(f"{LATENCY}_sum", search)] > 0
    assert after[(f"{LATENCY}_bucket", tuple(sorted((*search, ("le", "+Inf")))))] == 3
    assert after[("smarttags_assets", ())] == 1
    assert after[("smarttags_metrics_source_up", (("source", "store"),))] == 1


def test_each_app_has_its_own_registry(tmp_path):
    settings = make_settings(tmp_path)
    with (
        TestClient(create_app(settings)) as one,
        TestClient(create_app(settings)) as two,
    ):
        one.get("/search", params={"q": "x"})
        one.get("/search", params={"q": "y"})
        assert requests_of(scrape(one), "/search") == 2
        assert requests_of(scrape(two), "/search") == 0


def test_an_unreadable_store_is_reported_not_a_failed_scrape(tmp_path):
    settings = make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url="http://127.0.0.1:9",  # nothing listens on the discard port
        opensearch_timeout_s=1,
        opensearch_max_retries=0,
    )
    # the keys live apart (an OpenSearch outage would otherwise answer 503 before the scrape)
    keys = SqliteKeyStore(make_settings(tmp_path / "keys"))
    with TestClient(create_app(settings, keys=keys)) as client:
        samples = scrape(client)
    assert samples[("smarttags_metrics_source_up", (("source", "store"),))] == 0
    assert samples[("smarttags_metrics_source_up", (("source", "jobs"),))] == 0
    assert ("smarttags_assets", ()) not in samples


def test_jobs_assets_and_the_indexing_rate_follow_a_job(tmp_path, tiny_model, media_lib):
    settings = settings_for(tmp_path, tiny_model, library_root=tmp_path / "library")
    with TestClient(create_app(settings)) as client:
        idle = scrape(client)
        assert idle[("smarttags_indexing_files_per_second", ())] == 0
        upload = client.post(
            "/assets", files={"file": ("moon.jpg", media_lib["astronaut"].read_bytes())}
        ).json()
        waiting = scrape(client)
        assert waiting[("smarttags_jobs", (("state", "queued"),))] == 1
        assert waiting[("smarttags_workers_alive", ())] == 0
        with worker_thread(settings):
            job = wait_for_job_http(client, upload["job_id"])
            assert job["state"] == "done"
            busy = scrape(client)
        assert busy[("smarttags_workers_alive", ())] == 1
    assert busy[("smarttags_jobs", (("state", "queued"),))] == 0
    assert busy[("smarttags_jobs", (("state", "done"),))] == 1
    assert busy[("smarttags_assets", ())] == idle[("smarttags_assets", ())] + 1
    window = settings.metrics_rate_window_s
    assert busy[("smarttags_indexing_files_per_second", ())] == pytest.approx(1 / window)
    assert busy[("smarttags_indexing_files_per_busy_second", ())] > 0


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def job(started_s_ago: float, ran_s: float | None, done: int, state=JobState.done) -> JobRecord:
    started = NOW - timedelta(seconds=started_s_ago)
    finished = None if ran_s is None else started + timedelta(seconds=ran_s)
    return JobRecord(
        id="j", kind="index", state=state, started_at=started, finished_at=finished, done=done
    )


def test_indexing_rate_prorates_jobs_by_their_time_in_the_window():
    window = 100.0
    records = [
        job(50, 10, 20),  # all inside: 20 files in 10 s
        job(150, 100, 30),  # half inside: 15 files in 50 s
        job(500, 100, 99),  # ended before the window: nothing
        job(40, None, 8, JobState.running),  # running for 40 s: 8 files
        job(30, None, 5, JobState.queued),  # queued again: its next attempt will count
    ]
    rate = indexing_rate(records, NOW, window)
    assert rate.files == pytest.approx(20 + 15 + 8)
    assert rate.busy_s == pytest.approx(10 + 50 + 40)
    assert rate.per_second == pytest.approx(43 / window)
    assert rate.per_busy_second == pytest.approx(43 / 100)
    assert indexing_rate([], NOW, window).per_busy_second == 0


def test_several_api_processes_report_the_sum_of_their_requests(tmp_path):
    """`serve` with two API processes: whichever answers the scrape counts every search."""
    import httpx

    from tests.processes import free_port, settings_env, start_serve

    settings = make_settings(tmp_path)
    SqliteStore(settings).upsert_many([asset("a1", smart_tags=[tag("dog", 0.9)])])
    env = settings_env(settings, SMARTTAGS_API_WORKERS="2")
    api, url = start_serve(env, free_port(), tmp_path / "api.log")
    try:
        searches = 40
        # a new connection each time: the kernel spreads them over both processes
        for _ in range(searches):
            assert httpx.get(f"{url}/search", params={"q": "dog"}).status_code == 200
        counts = set()
        for _ in range(6):
            text = httpx.get(f"{url}/metrics").text
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            counts.add(requests_of(samples, "/search"))
    finally:
        api.stop()
    assert counts == {float(searches)}
