"""Upload through the API: a 202 with a job, job progress, the asset tagged and searchable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from query.api import create_app
from tests.test_pipeline import settings_for
from tests.workers import wait_for_job_http, worker_thread

pytest_plugins = ["tests.media", "tests.test_pipeline"]


@pytest.fixture
def client(tmp_path, tiny_model):
    settings = settings_for(tmp_path, tiny_model, library_root=tmp_path / "library")
    with worker_thread(settings), TestClient(create_app(settings)) as c:
        yield c


def _wait(client, job_id):
    return wait_for_job_http(client, job_id)


def test_upload_is_indexed_by_a_job(client, media_lib):
    data = media_lib["astronaut"].read_bytes()
    response = client.post(
        "/assets",
        files={"file": ("moon.jpg", data, "image/jpeg")},
        data={"folder": "campaigns/space"},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["path"] == "campaigns/space/moon.jpg"
    job = _wait(client, body["job_id"])
    assert job["state"] == "done" and job["done"] == job["total"] == 1
    assert job["summary"]["tagged"] == 1 and job["errors"] == []
    asset = client.get(f"/assets/{body['asset_id']}").json()
    assert asset["status"] == "tagged" and asset["tags"]
    top = asset["tags"][0]["tag"]
    hits = client.get("/search", params={"q": top, "folder": "campaigns"}).json()["hits"]
    assert body["asset_id"] in [h["id"] for h in hits]
    thumb = client.get(f"/assets/{body['asset_id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"


def test_a_corrupt_upload_is_a_job_error_not_a_crash(client, media_lib):
    data = media_lib["truncated_mp4"].read_bytes()
    body = client.post("/assets", files={"file": ("broken.mp4", data)}).json()
    job = _wait(client, body["job_id"])
    assert job["state"] == "done"
    assert job["errors"] == [{"path": "broken.mp4", "status": "failed", "reason": "corrupt"}]
    assert client.get(f"/assets/{body['asset_id']}").json()["status"] == "failed"


def test_upload_refusals(client):
    assert (
        client.post(
            "/assets", files={"file": ("a.jpg", b"x")}, data={"folder": "../out"}
        ).status_code
        == 422
    )
    assert client.post("/assets", files={"file": (".hidden", b"x")}).status_code == 422
    client.post("/assets", files={"file": ("a.jpg", b"x")})
    again = client.post("/assets", files={"file": ("a.jpg", b"y")})
    assert again.status_code == 409 and "replace=true" in again.json()["detail"]
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/assets/nope/thumbnail").status_code == 404


def test_oversize_upload_is_refused_and_nothing_is_kept(tmp_path, tiny_model):
    settings = settings_for(tmp_path, tiny_model, library_root=tmp_path / "lib", max_file_mb=0.001)
    with TestClient(create_app(settings)) as c:
        response = c.post("/assets", files={"file": ("big.jpg", b"x" * 5000)})
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert list((tmp_path / "lib").iterdir()) == []
