from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catalog.sqlite_store import SqliteStore
from query.api import create_app
from tests.backends import make_settings
from tests.fixtures import asset, tag


@pytest.fixture
def client(tmp_path):
    settings = make_settings(tmp_path)
    store = SqliteStore(settings)
    store.upsert_many(
        [
            asset(
                "a1",
                path="campaigns/summer/beach.mp4",
                title="Woman running",
                smart_tags=[
                    tag("running", 0.88, "action", [[0.0, 4.5]]),
                    tag("beach", 0.95),
                    tag("sand", 0.4),
                ],
                manual_tags=["summer"],
            ),
            asset(
                "a2",
                path="campaigns/summer-2020/b.jpg",
                smart_tags=[tag("woman", 0.8), tag("running", 0.9, "action")],
            ),
        ]
    )
    with TestClient(create_app(settings, store)) as c:
        yield c


def test_search_returns_hits_with_tier_match_and_tags_by_confidence(client):
    body = client.get("/search", params={"q": "woman running"}).json()
    assert body["total"] == 2
    first = body["hits"][0]
    assert (first["id"], first["tier"]) == ("a1", 1)
    assert first["matched"]["metadata"] == ["title"]
    weights = [t["weight"] for t in first["tags"]]
    assert weights == sorted(weights, reverse=True)
    assert first["tags"][0]["tag"] == "summer" and first["tags"][0]["source"] == "manual"
    running = next(t for t in first["tags"] if t["tag"] == "running")
    assert running["segments"] == [[0.0, 4.5]] and running["effective"] is True
    assert next(t for t in first["tags"] if t["tag"] == "sand")["effective"] is False


def test_search_filters(client):
    assert (
        client.get("/search", params={"q": "running", "folder": "campaigns/summer"}).json()["total"]
        == 1
    )
    assert (
        client.get("/search", params={"q": "running", "type": "image"}).json()["hits"][0]["id"]
        == "a2"
    )
    assert client.get("/search", params={"q": "woman", "kind": "action"}).json()["total"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 10_000},
        {"offset": -1},
        {"type": "audio"},
        {"kind": "colour"},
        {"q": "x" * 10_001},
        {"folder": "../etc"},
        {"offset": 9_999, "limit": 50},
    ],
)
def test_bad_parameters_get_a_422_with_a_message(client, params):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize("q", ["'; DROP TABLE assets; --", '"a" AND (b', "{}[]:\\/*?", "the"])
def test_hostile_queries_are_answered(client, q):
    response = client.get("/search", params={"q": q})
    assert response.status_code == 200
    assert client.get("/search", params={"q": "woman"}).json()["total"] == 2


def test_empty_query_browses(client):
    body = client.get("/search").json()
    assert [h["id"] for h in body["hits"]] == ["a2", "a1"]
    assert all(h["tier"] is None for h in body["hits"])


def test_get_asset_and_404(client):
    body = client.get("/assets/a1").json()
    assert body["path"] == "campaigns/summer/beach.mp4" and body["tags"]
    missing = client.get("/assets/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_health_and_openapi(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["assets"] == 2
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_unreachable_opensearch_gives_503_not_a_trace(tmp_path):
    settings = make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url="http://127.0.0.1:9",
        opensearch_timeout_s=1,
        opensearch_max_retries=0,
    )
    with TestClient(create_app(settings)) as c:
        for path in ("/search?q=dog", "/healthz", "/assets/x"):
            response = c.get(path)
            assert response.status_code == 503, path
            assert "127.0.0.1:9" in response.json()["detail"]
            assert "Traceback" not in response.text


def test_schedule_shows_the_workers_next_runs_or_that_it_is_off(tmp_path):
    settings = make_settings(tmp_path, tagging_cron="15 3 * * *")
    with TestClient(create_app(settings, SqliteStore(settings))) as scheduled:
        body = scheduled.get("/schedule").json()
        assert body["enabled"] is True and "worker" in body["runs_in"]
        assert set(body["next_runs"]) == {"train", "autotag"}
        assert body["next_runs"]["autotag"][11:16] == "03:15"
    off = make_settings(tmp_path, schedule_enabled=False)
    with TestClient(create_app(off, SqliteStore(off))) as plain:
        body = plain.get("/schedule").json()
        assert body["enabled"] is False and body["next_runs"] == {}
