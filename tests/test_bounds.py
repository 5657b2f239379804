"""Bounds on everything a client can send: tags, manual tags per asset, control characters,
asset ids of any length, folder settings (audited); the CLI's one line during an outage."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from catalog.asset import Asset, normalize_folder, normalize_path, normalize_tag
from catalog.audit import folder_subject
from query.api import create_app
from smarttags.cli import cli
from tests.access import make_world


@pytest.fixture
def client(tmp_path):
    world = make_world(tmp_path, max_manual_tags=3)
    with TestClient(create_app(world.settings, world.store)) as c:
        c.headers.update({"X-API-Key": world.keys["admin"]})
        yield c


def _add(client, name):
    return client.post("/assets/a1/tags", json={"action": "add", "tag": name})


def test_manual_tags_per_asset_are_bounded(client):
    # a1 holds "summer" already; the setting allows 3
    assert _add(client, "one").status_code == 200
    assert _add(client, "two").status_code == 200
    refused = _add(client, "three")
    assert refused.status_code == 409 and "SMARTTAGS_MAX_MANUAL_TAGS" in refused.json()["detail"]
    assert _add(client, "two").status_code == 200  # already there: no change, no refusal
    assert (
        client.post("/assets/a1/tags", json={"action": "remove", "tag": "beach"}).status_code == 200
    )
    manual = client.get("/assets/a1").json()["manual_tags"]
    assert sorted(manual) == ["one", "summer", "two"]


@pytest.mark.parametrize("name", ["new\nline", "nul\x00", "tab\tbed", "bell\x07", "x" * 101, "  "])
def test_tags_with_control_characters_or_too_long_are_422(client, name):
    response = _add(client, name)
    assert response.status_code == 422, response.text
    assert client.get("/assets/a1/audit").json()["entries"] == []


def test_control_characters_are_refused_in_the_catalog_itself():
    for check in (normalize_tag, normalize_path, normalize_folder):
        with pytest.raises(ValueError, match="control characters"):
            check("a\x00b")
    with pytest.raises(ValueError):
        Asset.model_validate({"id": "x1", "path": "a\nb.jpg", "media_type": "image"})
    with pytest.raises(ValueError):
        Asset.model_validate(
            {"id": "x1", "path": "a.jpg", "media_type": "image", "manual_tags": ["a\nb"]}
        )


@pytest.mark.parametrize(
    "route",
    [
        "/assets/{id}",
        "/assets/{id}/thumbnail",
        "/assets/{id}/tags",
        "/assets/{id}/audit",
    ],
)
@pytest.mark.parametrize("asset_id", ["x" * 5000, "a" * 129, ".hidden", "a b"])
def test_an_asset_id_that_cannot_exist_is_404_never_500(client, route, asset_id):
    response = client.get(route.format(id=asset_id))
    assert response.status_code == 404, response.text


def test_moderating_an_impossible_asset_id_is_404(client):
    assert (
        client.post(f"/assets/{'x' * 5000}/tags", json={"action": "add", "tag": "x"}).status_code
        == 404
    )
    assert client.post("/reprocess", json={"asset_ids": ["x" * 5000]}).status_code == 404
    assert client.get(f"/jobs/{'j' * 5000}").status_code == 404


@pytest.mark.parametrize("path", ["bad%0Aname", "nul%00", "a%2F..%2Fb", "C:%2Fx"])
def test_folder_paths_with_control_characters_or_escapes_are_422(client, path):
    response = client.put(f"/folders/{path}/settings", json={"video": "disable"})
    assert response.status_code == 422, response.text
    assert client.get("/folders").json()["folders"] == []


def test_folder_setting_changes_are_in_the_audit_log(client, tmp_path):
    client.put("/folders/trips/settings", json={"video": "disable"})
    client.put("/folders/trips/settings", json={"video": "disable", "image": "disable"})
    client.put("/folders/settings", json={"image": "enable"})
    entries = client.get("/folders/trips/audit").json()["entries"]
    assert [(e["tag"], e["before"], e["after"], e["action"]) for e in entries] == [
        ("image", "inherit", "disable", "folder"),
        ("video", "inherit", "disable", "folder"),
    ]
    assert entries[0]["actor"] == "key:test-admin"
    assert entries[0]["asset_id"] == folder_subject("trips")
    root = client.get("/folders/audit").json()
    assert root["folder"] == "" and [e["after"] for e in root["entries"]] == ["enable"]


def test_the_cli_says_one_line_during_an_outage_and_no_library_traceback(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # as a worker's or server's logging would
    result = CliRunner().invoke(
        cli,
        ["--data-dir", str(tmp_path), "--opensearch-url", "http://127.0.0.1:9", "search", "x"],
        env={"SMARTTAGS_OPENSEARCH_MAX_RETRIES": "0"},
    )
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and result.output.startswith("error: cannot reach")
    library = [r for r in caplog.records if r.name.split(".")[0] in ("opensearch", "urllib3")]
    assert [r for r in library if r.levelno >= logging.WARNING] == []


def test_every_422_has_the_declared_error_body(client):
    from query.errors import ErrorBody

    validation = client.get("/search", params={"limit": 0})
    ours = client.get("/search", params={"folder": "../etc"})
    for response in (validation, ours):
        assert response.status_code == 422
        body = ErrorBody.model_validate(response.json())  # detail: one line, a string
        assert body.detail
    assert validation.json()["errors"][0]["loc"] == ["query", "limit"]
    schema = client.get("/openapi.json").json()
    declared = schema["paths"]["/search"]["get"]["responses"]["422"]
    assert declared["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
