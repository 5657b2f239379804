"""Access control: every route of the app declares a role, and answers 401 without a key,
403 to a smaller role and 2xx to its role and larger ones; keys on the CLI; serve's rule."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from catalog.keys import Role, digest, open_key_store
from query.api import create_app
from query.auth import PUBLIC, route_access
from smarttags.cli import cli
from tests.access import JPEG_HEAD, World, jpeg_bytes, make_world

Call = Callable[[TestClient, dict[str, str]], object]


def _admin(world: World) -> dict[str, str]:
    return world.headers(Role.admin)


def _upload(client, headers):
    name = f"{uuid.uuid4().hex}.jpg"
    return client.post("/assets", files={"file": (name, JPEG_HEAD)}, headers=headers)


def _undo(world: World) -> Call:
    def call(client, headers):
        name = uuid.uuid4().hex
        client.post("/assets/a1/tags", json={"action": "add", "tag": name}, headers=_admin(world))
        return client.post("/assets/a1/tags/undo", headers=headers)

    return call


def _revoke(world: World) -> Call:
    def call(client, headers):
        name = f"gone-{uuid.uuid4().hex[:8]}"
        client.post("/keys", json={"name": name, "role": "reader"}, headers=_admin(world))
        return client.delete(f"/keys/{name}", headers=headers)

    return call


def _by_image(client, headers):
    picture = jpeg_bytes((32, 32))
    return client.post("/search/by-image", files={"file": ("q.jpg", picture)}, headers=headers)


def _key(client, headers):
    name = f"new-{uuid.uuid4().hex[:8]}"
    return client.post("/keys", json={"name": name, "role": "reader"}, headers=headers)


def routes_table(world: World) -> dict[tuple[str, str], tuple[Role | str, Call]]:
    """(method, path) -> (the role the issue gives it, a request that succeeds for it)."""
    job = world.job_id

    def get(url: str, **kw) -> Call:
        return lambda c, h: c.get(url, headers=h, **kw)

    def send(method: str, url: str, body: object | None = None) -> Call:
        return lambda c, h: c.request(method, url, json=body, headers=h)

    reader, editor, admin = Role.reader, Role.editor, Role.admin
    return {
        ("GET", "/search"): (reader, get("/search", params={"q": "beach"})),
        ("GET", "/assets/{asset_id}/similar"): (reader, get("/assets/a1/similar")),
        ("GET", "/assets/{asset_id}/moments"): (
            reader,
            get("/assets/a1/moments", params={"q": "a dark shot"}),
        ),
        ("POST", "/search/by-image"): (reader, _by_image),
        ("GET", "/assets/{asset_id}"): (reader, get("/assets/a1")),
        ("GET", "/assets/{asset_id}/thumbnail"): (reader, get("/assets/a1/thumbnail")),
        ("GET", "/assets/{asset_id}/tags"): (reader, get("/assets/a1/tags")),
        ("GET", "/assets/{asset_id}/audit"): (reader, get("/assets/a1/audit")),
        ("GET", "/folders"): (reader, get("/folders")),
        ("GET", "/folders/settings"): (reader, get("/folders/settings")),
        ("GET", "/folders/{path}/settings"): (reader, get("/folders/a/b/settings")),
        ("GET", "/folders/audit"): (reader, get("/folders/audit")),
        ("GET", "/folders/{path}/audit"): (reader, get("/folders/a/audit")),
        ("GET", "/review"): (reader, get("/review")),
        ("GET", "/tags/thresholds"): (reader, get("/tags/thresholds")),
        ("GET", "/jobs"): (reader, get("/jobs")),
        ("GET", "/jobs/{job_id}"): (reader, get(f"/jobs/{job}")),
        ("GET", "/schedule"): (reader, get("/schedule")),
        ("GET", "/training/report"): (reader, get("/training/report")),
        ("GET", "/training/runs"): (reader, get("/training/runs")),
        ("POST", "/assets"): (editor, _upload),
        ("POST", "/assets/{asset_id}/tags"): (
            editor,
            send("POST", "/assets/a1/tags", {"action": "add", "tag": "sunny"}),
        ),
        ("POST", "/assets/{asset_id}/tags/undo"): (editor, _undo(world)),
        ("DELETE", "/assets/{asset_id}/tags/{tag}"): (
            editor,
            send("DELETE", "/assets/a1/tags/beach"),
        ),
        ("PUT", "/folders/settings"): (
            editor,
            send("PUT", "/folders/settings", {"image": "enable"}),
        ),
        ("PUT", "/folders/{path}/settings"): (
            editor,
            send("PUT", "/folders/a/settings", {"video": "disable"}),
        ),
        ("POST", "/reprocess"): (editor, send("POST", "/reprocess", {"asset_ids": ["a1"]})),
        ("POST", "/training"): (admin, send("POST", "/training", {})),
        ("POST", "/autotag"): (admin, send("POST", "/autotag", {})),
        ("GET", "/keys"): (admin, get("/keys")),
        ("POST", "/keys"): (admin, _key),
        ("DELETE", "/keys/{name}"): (admin, _revoke(world)),
        ("GET", "/healthz"): (PUBLIC, get("/healthz")),
        ("GET", "/auth/me"): (reader, get("/auth/me")),
        ("GET", "/assets/{asset_id}/media"): (reader, get("/assets/a1/media")),
        ("GET", "/folders/tree"): (reader, get("/folders/tree")),
        ("PATCH", "/assets/{asset_id}"): (
            editor,
            send("PATCH", "/assets/a1", {"description": "Running at dawn"}),
        ),
        ("GET", "/metrics"): (reader, get("/metrics")),
    }


def _is_page(route) -> bool:
    """A route outside the API's schema (docs pages, their assets): no role, declared public."""
    return not isinstance(route, APIRoute) or not route.include_in_schema


def api_routes(app) -> list[APIRoute]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "original_route", context)
        if not _is_page(route):
            found.append(route)
    return found


def other_routes(app) -> list[str]:
    paths = []
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "original_route", context)
        if _is_page(route):
            paths.append(route.path)
    return paths


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("access"))


@pytest.fixture(scope="module")
def client(world):
    with TestClient(create_app(world.settings, world.store, encoder=world.encoder)) as c:
        yield c


def _operations(app) -> list[tuple[str, str, APIRoute]]:
    return [
        (method, route.path.replace(":anypath", ""), route)
        for route in api_routes(app)
        for method in sorted(route.methods)
    ]


def test_every_route_declares_exactly_the_role_the_issue_gives_it(client, world):
    table = routes_table(world)
    declared = {}
    for method, path, route in _operations(client.app):
        accesses = route_access(route.dependencies)
        assert len(accesses) == 1, f"{method} {path} declares {accesses or 'no role'}"
        declared[(method, path)] = accesses[0]
    assert set(declared) == set(table), "a route is missing from the table, or gone"
    assert declared == {key: role for key, (role, _) in table.items()}


def test_non_api_routes_are_the_declared_public_ones(client):
    public = client.app.state.public_paths
    assert set(other_routes(client.app)) <= public
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert client.get(path).status_code == 200, path


ROLES = list(Role)


@pytest.mark.parametrize("role", [None, *ROLES], ids=["no-key", *[r.value for r in ROLES]])
def test_every_route_answers_401_403_or_2xx_by_role(client, world, role):
    for (method, path), (needed, call) in routes_table(world).items():
        response = call(client, world.headers(role))
        code = response.status_code
        if needed == PUBLIC:
            assert 200 <= code < 300, (method, path, code)
        elif role is None:
            assert code == 401, (method, path, code, response.text)
        elif not role.allows(needed):
            assert code == 403, (method, path, code, response.text)
            assert needed.value in response.json()["detail"]
        else:
            assert 200 <= code < 300, (method, path, role, code, response.text)


def test_wrong_and_bearer_keys(client, world):
    assert client.get("/search", headers={"X-API-Key": "st_wrong"}).status_code == 401
    bearer = {"Authorization": f"Bearer {world.keys[Role.reader]}"}
    assert client.get("/search", headers=bearer).status_code == 200
    basic = {"Authorization": f"Basic {world.keys[Role.reader]}"}
    assert client.get("/search", headers=basic).status_code == 401


def test_reprocessing_a_folder_or_the_library_needs_admin(client, world):
    editor, admin = world.headers(Role.editor), world.headers(Role.admin)
    for body in ({}, {"folder": "campaigns"}, {"folder": "", "asset_ids": ["a1"]}):
        assert client.post("/reprocess", json=body, headers=editor).status_code == 403, body
        assert client.post("/reprocess", json=body, headers=admin).status_code == 202, body
    assert client.post("/reprocess", json={"asset_ids": ["a1"]}, headers=editor).status_code == 202


def test_the_audit_log_and_jobs_name_the_key(client, world):
    editor = world.headers(Role.editor)
    body = client.post(
        "/assets/a1/tags", json={"action": "add", "tag": "named"}, headers=editor
    ).json()
    assert body["audit"]["actor"] == "key:test-editor"
    accepted = client.post("/reprocess", json={"asset_ids": ["a1"]}, headers=editor).json()
    job = client.get(f"/jobs/{accepted['job_id']}", headers=editor).json()
    assert job["actor"] == "key:test-editor"


def test_without_keys_everything_is_open_and_the_actor_is_the_host(tmp_path):
    from tests.backends import make_settings

    with TestClient(create_app(make_settings(tmp_path))) as c:
        assert c.get("/search").status_code == 200
        put = c.put("/folders/a/settings", json={"video": "disable"})
        assert put.json()["updated_by"] == "api:testclient"


def test_a_revoked_key_stops_working(tmp_path):
    world = make_world(tmp_path, key_cache_s=0)
    with TestClient(create_app(world.settings, world.store)) as c:
        headers = world.headers(Role.reader)
        assert c.get("/search", headers=headers).status_code == 200
        result = CliRunner().invoke(
            cli, ["--data-dir", str(world.settings.data_dir), "keys", "revoke", "test-reader"]
        )
        assert result.exit_code == 0, result.output
        assert c.get("/search", headers=headers).status_code == 401


# --- the CLI ------------------------------------------------------------------------------


def _cli(tmp_path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), *args])
    assert result.exit_code == code, result.output
    return result


def test_keys_add_list_revoke(tmp_path):
    made = json.loads(_cli(tmp_path, "keys", "add", "ci", "--role", "editor", "--json").stdout)
    assert made["name"] == "ci" and made["role"] == "editor" and made["key"].startswith("st_")
    plain = _cli(tmp_path, "keys", "add", "ops", "--role", "admin")
    secret = plain.stdout.strip()
    assert secret.startswith("st_") and "not shown again" in plain.stderr
    listed = json.loads(_cli(tmp_path, "keys", "list", "--json").stdout)
    assert [(k["name"], k["role"]) for k in listed] == [("ci", "editor"), ("ops", "admin")]
    assert made["key"] not in str(listed) and secret not in str(listed)
    assert (
        "exists already" in _cli(tmp_path, "keys", "add", "ci", "--role", "reader", code=2).output
    )
    assert "--role" in _cli(tmp_path, "keys", "add", "x", "--role", "root", code=2).output
    _cli(tmp_path, "keys", "revoke", "ci")
    assert "no key named" in _cli(tmp_path, "keys", "revoke", "ci", code=2).output
    assert "ops" in _cli(tmp_path, "keys", "list").stdout


def test_only_a_digest_is_stored(tmp_path):
    made = json.loads(_cli(tmp_path, "keys", "add", "ci", "--role", "reader", "--json").stdout)
    stored = (tmp_path / "data" / "keys.db").read_bytes()
    assert made["key"].encode() not in stored
    assert digest(made["key"]).encode() in stored


def test_legacy_api_keys_setting_is_migrated_as_admin_keys(tmp_path):
    from tests.backends import make_settings

    settings = make_settings(tmp_path, api_keys={"old": "legacy-secret"})
    with TestClient(create_app(settings)) as c:
        assert c.get("/search").status_code == 401
        # the writes that answered 202 to anyone before
        assert c.post("/assets", files={"file": ("a.jpg", JPEG_HEAD)}).status_code == 401
        for route in ("/reprocess", "/training", "/autotag"):
            assert c.post(route, json={}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/keys", headers={"X-API-Key": "legacy-secret"}).status_code == 200
    keys = open_key_store(make_settings(tmp_path))
    assert [(k.name, k.role) for k in keys.list()] == [("old", Role.admin)]
    keys.close()


def test_serve_refuses_an_exposed_address_without_keys(tmp_path):
    refused = _cli(tmp_path, "serve", "--host", "0.0.0.0", "--port", "1", code=2)
    assert "no API key exists" in refused.output and "--allow-anonymous" in refused.output


def test_serve_warns_when_told_to_allow_anonymous(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("smarttags.serve.run_api", lambda *args: started.append(args))
    result = _cli(tmp_path, "serve", "--host", "0.0.0.0", "--allow-anonymous")
    assert started and "warning" in result.stderr and "no API key" in result.stderr


def test_serve_with_a_key_or_on_loopback_says_nothing(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("smarttags.serve.run_api", lambda *args: started.append(args))
    assert _cli(tmp_path, "serve", "--host", "127.0.0.1").stderr == ""
    _cli(tmp_path, "keys", "add", "ops", "--role", "admin")
    assert _cli(tmp_path, "serve", "--host", "0.0.0.0").stderr == ""
    assert len(started) == 2


def test_key_stores_keep_names_unique_and_digests_only(make_store):
    from catalog.keys import ApiKey, KeyRing, create_key

    store = make_store()
    keys = open_key_store(store.settings)
    try:
        _, secret = create_key(keys, "ops", Role.editor)
        assert keys.add(ApiKey(name="ops", role=Role.admin, digest=digest("other"))) is False
        assert [(k.name, k.role, k.digest) for k in keys.list()] == [
            ("ops", Role.editor, digest(secret))
        ]
        ring = KeyRing(keys, ttl_s=0)
        assert ring.enabled() and ring.find(secret).name == "ops" and ring.find("x") is None
        assert keys.revoke("ops") is True and keys.revoke("ops") is False
        assert not ring.enabled()
    finally:
        keys.close()
