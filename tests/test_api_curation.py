"""Moderation, audit, API keys and folder settings over HTTP, on every backend."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from catalog.asset import Asset
from catalog.curation import save_processed
from query.api import create_app
from query.plan import SearchRequest
from query.routes_curation import router
from query.service import search, tag_listing
from tests.fixtures import asset, tag

CONCURRENT_WRITERS = 8
BARRIER_TIMEOUT_S = 30
KEYS = {"ci": "s3cret-ci", "ops": "s3cret-ops"}


def seed(store) -> None:
    store.upsert_many(
        [
            asset(
                "a1",
                path="campaigns/summer/clip1.mp4",
                title="Holiday",
                smart_tags=[
                    tag("running", 0.88, "action", [[0.0, 4.5]]),
                    tag("beach", 0.95),
                    tag("sand", 0.4),
                ],
                manual_tags=["summer"],
            ),
            asset("a2", path="campaigns/winter/pet.jpg", smart_tags=[tag("dog", 0.9)]),
            asset("a3", smart_tags=[tag("dog", 0.95)]),
        ]
    )


def client_for(store) -> TestClient:
    app = create_app(store.settings, store)
    if not any(getattr(r, "path", "") == "/folders" for r in app.routes):
        app.include_router(router)  # until query/api.py includes it
    return TestClient(app)


@pytest.fixture
def store(make_store):
    opened = make_store()
    seed(opened)
    return opened


@pytest.fixture
def client(store):
    with client_for(store) as c:
        yield c


def hit_ids(store, text: str) -> list[str]:
    return [h["id"] for h in search(store, SearchRequest(text), store.settings)["hits"]]


def moderate(client, asset_id: str, action: str, name: str, **kwargs):
    return client.post(f"/assets/{asset_id}/tags", json={"action": action, "tag": name}, **kwargs)


def test_get_tags_as_search_shows_them_and_404(client, store):
    body = client.get("/assets/a1/tags").json()
    assert body["tags"] == tag_listing(store.get("a1"), store.settings)
    assert [r["tag"] for r in body["tags"]] == ["summer", "beach", "running", "sand"]
    assert body["removed"] == []
    missing = client.get("/assets/nope/tags")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_remove_hides_the_tag_survives_reprocessing_and_is_audited(client, store):
    body = moderate(client, "a1", "remove", "Beach").json()
    assert (body["changed"], body["before"], body["after"]) == (True, "none", "removed")
    assert body["audit"]["actor"] == "api:testclient"
    assert "beach" not in [r["tag"] for r in body["tags"]]
    assert [r["tag"] for r in body["removed"]] == ["beach"]
    assert hit_ids(store, "beach") == []

    processed = Asset.model_validate(
        {**store.get("a1").to_json_dict(), "removed_tags": [], "manual_tags": []}
    )
    save_processed(store, processed, store.settings.write_retries)
    assert hit_ids(store, "beach") == []

    entries = client.get("/assets/a1/audit").json()["entries"]
    assert [(e["action"], e["tag"], e["after"], e["actor"]) for e in entries] == [
        ("remove", "beach", "removed", "api:testclient")
    ]


def test_a_repeated_moderation_reports_unchanged(client):
    moderate(client, "a1", "remove", "beach")
    again = client.delete("/assets/a1/tags/beach").json()
    assert (again["changed"], again["audit"], again["after"]) == (False, None, "removed")
    assert len(client.get("/assets/a1/audit").json()["entries"]) == 1


def test_delete_removes_and_restore_brings_the_machine_tag_back(client, store):
    removed = client.delete("/assets/a1/tags/running")
    assert removed.status_code == 200 and removed.json()["after"] == "removed"
    assert hit_ids(store, "running") == []
    restored = moderate(client, "a1", "restore", "running").json()
    assert (restored["before"], restored["after"]) == ("removed", "none")
    running = next(r for r in restored["tags"] if r["tag"] == "running")
    assert (running["source"], running["segments"]) == ("machine", [[0.0, 4.5]])
    assert hit_ids(store, "running") == ["a1"]


def test_promote_ranks_with_the_promote_boost(client, store):
    assert hit_ids(store, "dog") == ["a3", "a2"]
    body = moderate(client, "a2", "promote", "dog").json()
    assert body["tags"][0]["source"] == "promoted"
    assert body["tags"][0]["weight"] == store.settings.promote_boost
    hits = search(store, SearchRequest("dog"), store.settings)["hits"]
    assert [h["id"] for h in hits] == ["a2", "a3"]
    assert hits[0]["matched"]["tags"][0]["weight"] == store.settings.promote_boost


def test_add_gives_a_manual_tag_of_weight_one(client, store):
    body = moderate(client, "a2", "add", "Red Car").json()
    row = next(r for r in body["tags"] if r["tag"] == "red car")
    assert (row["source"], row["weight"]) == ("manual", 1.0)
    assert hit_ids(store, "car") == ["a2"]


def test_undo_reverts_then_says_nothing_is_left(client, store):
    moderate(client, "a1", "remove", "beach")
    undone = client.post("/assets/a1/tags/undo").json()
    assert (undone["action"], undone["tag"], undone["after"]) == ("undo", "beach", "none")
    assert undone["audit"]["undoes"]
    assert hit_ids(store, "beach") == ["a1"]
    nothing = client.post("/assets/a1/tags/undo")
    assert nothing.status_code == 422 and "no moderation left" in nothing.json()["detail"]
    assert client.post("/assets/nope/tags/undo").status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "promote", "tag": "volcano"},
        {"action": "remove", "tag": "volcano"},
        {"action": "restore", "tag": "volcano"},
        {"action": "explode", "tag": "beach"},
        {"action": "add", "tag": "   "},
        {"action": "add", "tag": "x" * 101},
        {"action": "add"},
        {"action": "add", "tag": "ok", "extra": 1},
    ],
)
def test_bad_or_refused_moderation_is_422(client, payload):
    response = client.post("/assets/a1/tags", json=payload)
    assert response.status_code == 422 and response.json()["detail"]
    assert client.get("/assets/a1/audit").json()["entries"] == []


def test_a_typo_is_refused_with_the_near_names(client):
    refused = client.post("/assets/a1/tags", json={"action": "remove", "tag": "beech"})
    assert refused.status_code == 422 and "'beach'" in refused.json()["detail"]
    assert client.delete("/assets/a1/tags/beech").status_code == 422


def test_moderation_of_an_unknown_asset_is_404(client):
    assert moderate(client, "nope", "add", "x").status_code == 404
    assert client.get("/assets/nope/audit").status_code == 404


def test_a_write_conflict_is_409(make_store, monkeypatch):
    store = make_store(write_retries=1)
    seed(store)
    monkeypatch.setattr(store, "replace", lambda asset, expected: False)
    with client_for(store) as c:
        response = moderate(c, "a1", "remove", "beach")
    assert response.status_code == 409 and "try again" in response.json()["detail"]


def test_concurrent_moderation_of_one_asset_all_takes_effect(client, store, monkeypatch):
    # every writer reads the same version before any writes, so all but one must retry
    together = threading.Barrier(CONCURRENT_WRITERS, timeout=BARRIER_TIMEOUT_S)
    seen = threading.local()
    lost = []
    real_read, real_replace = store.read, store.replace

    def read_together(asset_id):
        current = real_read(asset_id)
        if not getattr(seen, "read", False):
            seen.read = True
            together.wait()
        return current

    def counting_replace(asset, expected):
        written = real_replace(asset, expected)
        lost.append(not written)
        return written

    monkeypatch.setattr(store, "read", read_together)
    monkeypatch.setattr(store, "replace", counting_replace)
    names = [f"tag{i}" for i in range(CONCURRENT_WRITERS)]
    with ThreadPoolExecutor(CONCURRENT_WRITERS) as pool:
        responses = list(pool.map(lambda n: moderate(client, "a2", "add", n), names))
    assert [r.status_code for r in responses] == [200] * CONCURRENT_WRITERS
    assert sum(lost) >= CONCURRENT_WRITERS - 1
    assert set(names) <= set(store.get("a2").manual_tags)
    entries = client.get("/assets/a2/audit").json()["entries"]
    assert sorted(e["tag"] for e in entries) == names


def test_audit_limit(client):
    for name in ("x", "y", "z"):
        moderate(client, "a1", "add", name)
    entries = client.get("/assets/a1/audit", params={"limit": 2}).json()["entries"]
    assert [e["tag"] for e in entries] == ["z", "y"]
    assert client.get("/assets/a1/audit", params={"limit": 0}).status_code == 422


@pytest.fixture
def keyed(make_store):
    store = make_store(api_keys=KEYS)
    seed(store)
    with client_for(store) as c:
        yield c


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": "s3cret"}])
def test_mutations_need_a_valid_api_key(keyed, headers):
    assert moderate(keyed, "a1", "remove", "beach", headers=headers).status_code == 401
    assert keyed.delete("/assets/a1/tags/beach", headers=headers).status_code == 401
    assert keyed.post("/assets/a1/tags/undo", headers=headers).status_code == 401
    put = keyed.put("/folders/a/settings", json={"video": "disable"}, headers=headers)
    assert put.status_code == 401 and "X-API-Key" in put.json()["detail"]
    assert keyed.get("/assets/a1/audit").json()["entries"] == []


def test_a_valid_key_is_recorded_by_name_and_reads_need_none(keyed):
    body = moderate(keyed, "a1", "remove", "beach", headers={"X-API-Key": KEYS["ops"]}).json()
    assert body["audit"]["actor"] == "key:ops"
    put = keyed.put(
        "/folders/a/settings", json={"video": "disable"}, headers={"X-API-Key": KEYS["ci"]}
    )
    assert put.status_code == 200 and put.json()["updated_by"] == "key:ci"
    assert keyed.get("/assets/a1/tags").status_code == 200
    entries = keyed.get("/assets/a1/audit").json()["entries"]
    assert entries[0]["actor"] == "key:ops"
    assert all(key not in str(entries) for key in KEYS.values())


def test_folder_settings_show_inheritance(client):
    put = client.put("/folders/a/settings", json={"video": "disable"})
    assert put.status_code == 200
    assert put.json()["video"] == {
        "setting": "disable",
        "effective": "disable",
        "inherited_from": "a",
    }
    shown = client.get("/folders/a/b/c/settings").json()
    assert shown["folder"] == "a/b/c" and shown["updated_by"] is None
    assert shown["video"] == {"setting": "inherit", "effective": "disable", "inherited_from": "a"}
    assert shown["image"] == {"setting": "inherit", "effective": "enable", "inherited_from": None}


def test_folder_put_keeps_missing_keys_and_the_root_has_its_own_route(client):
    client.put("/folders/a/settings", json={"video": "disable"})
    both = client.put("/folders/a/settings", json={"image": "enable"}).json()
    assert (both["video"]["setting"], both["image"]["setting"]) == ("disable", "enable")
    assert both["updated_by"] == "api:testclient"
    root = client.put("/folders/settings", json={"image": "disable"})
    assert root.status_code == 200 and root.json()["folder"] == ""
    assert client.get("/folders/settings").json()["image"]["setting"] == "disable"
    below = client.get("/folders/x/y/settings").json()
    assert below["image"] == {"setting": "inherit", "effective": "disable", "inherited_from": ""}
    listed = client.get("/folders").json()["folders"]
    assert [f["folder"] for f in listed] == ["", "a"]
    client.put("/folders/a/settings", json={"video": "inherit", "image": "inherit"})
    assert [f["folder"] for f in client.get("/folders").json()["folders"]] == [""]


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/folders/a/settings", {}),
        ("/folders/a/settings", {"video": "maybe"}),
        ("/folders/a/settings", {"audio": "enable"}),
        ("/folders/a%2F..%2F..%2Fetc/settings", {"video": "disable"}),
    ],
)
def test_bad_folder_settings_are_422(client, path, payload):
    response = client.put(path, json=payload)
    assert response.status_code == 422 and response.json()["detail"]
    assert client.get("/folders").json()["folders"] == []


def test_routes_are_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/assets/{asset_id}/tags",
        "/assets/{asset_id}/tags/undo",
        "/assets/{asset_id}/audit",
        "/folders",
        "/folders/settings",
        "/folders/{path}/settings",
    ):
        assert path in paths, path
