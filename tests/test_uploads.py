"""Uploads that cannot hurt the library: streamed to the size limit and no further, sniffed
before they enter the library, names and folders checked; the asset exists at once."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from catalog.settings import Settings
from query.api import create_app
from query.uploads import STAGING_DIR
from tests.access import JPEG_HEAD, jpeg_bytes
from tests.backends import make_settings

MIB = 1024 * 1024
CHUNK = 64 * 1024


def settings_for(tmp_path, **overrides) -> Settings:
    return make_settings(tmp_path, library_root=tmp_path / "library", **overrides)


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(settings_for(tmp_path))) as c:
        yield c


def library_files(tmp_path) -> list[str]:
    root = tmp_path / "library"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, filename or None, data) parts, built by hand so
    tests can send what clients would not (two files, bad names)."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: ".encode() + disposition.encode("utf-8")
        out += b"\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class _Pulled:
    """The ASGI receive side of one request: hands out the body in chunks, counting them."""

    def __init__(self, body: bytes, declare_length: bool) -> None:
        self.body = body
        self.declare_length = declare_length
        self.sent = 0

    async def receive(self) -> dict:
        if self.sent >= len(self.body):
            await asyncio.sleep(3600)  # a client that keeps the connection open
        chunk = self.body[self.sent : self.sent + CHUNK]
        self.sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.sent < len(self.body)}


async def _call(app, body: bytes, content_type: str, declare_length: bool) -> tuple[int, int]:
    """(status, bytes the app pulled) of a POST /assets sent chunk by chunk."""
    pulled = _Pulled(body, declare_length)
    headers = [(b"content-type", content_type.encode())]
    if declare_length:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/assets",
        "raw_path": b"/assets",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "root_path": "",
    }
    statuses = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await asyncio.wait_for(app(scope, pulled.receive, send), timeout=60)
    return statuses[0], pulled.sent


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
def test_an_oversize_upload_is_read_only_to_the_limit(tmp_path, monkeypatch, declare_length):
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spool))
    settings = settings_for(tmp_path, max_file_mb=1)
    app = create_app(settings)
    body, content_type = multipart([("file", "big.jpg", JPEG_HEAD + b"x" * (5 * MIB))])
    status, pulled = asyncio.run(_call(app, body, content_type, declare_length))
    assert status == 413
    limit = MIB + settings.upload_overhead_kb * 1024
    assert pulled <= limit + CHUNK, f"read {pulled} bytes of a {len(body)}-byte body"
    if declare_length:
        assert pulled == 0  # Content-Length said it: nothing is read
    assert library_files(tmp_path) == []
    assert list(spool.iterdir()) == []


def test_a_file_just_under_the_limit_is_accepted(tmp_path):
    settings = settings_for(tmp_path, max_file_mb=1)
    data = jpeg_bytes() + b"\0" * (MIB - len(jpeg_bytes()) - 10)
    with TestClient(create_app(settings)) as c:
        response = c.post("/assets", files={"file": ("ok.jpg", data)})
    assert response.status_code == 202, response.text
    assert response.json()["size_bytes"] == len(data)
    assert library_files(tmp_path) == ["ok.jpg"]


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", 422, "empty"),
        (b"#!/bin/sh\nrm -rf /\n", 415, "not a video or image"),
        (b"%PDF-1.7\n" + b"x" * 100, 415, "not a video or image"),
    ],
    ids=["empty", "script", "pdf"],
)
def test_content_is_sniffed_before_it_enters_the_library(client, tmp_path, data, code, words):
    response = client.post("/assets", files={"file": ("photo.jpg", data)})
    assert response.status_code == code and words in response.json()["detail"]
    assert library_files(tmp_path) == []


@pytest.mark.parametrize(
    ("filename", "folder"),
    [
        ("a\x00b.jpg", ""),
        ("new\nline.jpg", ""),
        ("x" * 300 + ".jpg", ""),
        ("ok.jpg", "bad\x00folder"),
        ("ok.jpg", "tab\there"),
        ("ok.jpg", "/".join(["d" * 200] * 6)),
        ("ok.jpg", "../outside"),
        ("é" * 130 + ".jpg", ""),  # 260 bytes, 130 characters
    ],
    ids=["nul", "newline", "long-part", "nul-folder", "tab-folder", "long-path", "dotdot", "utf8"],
)
def test_bad_names_and_folders_are_422_never_500(client, tmp_path, filename, folder):
    body, content_type = multipart(
        [("folder", None, folder.encode()), ("file", filename, jpeg_bytes())]
    )
    response = client.post("/assets", content=body, headers={"content-type": content_type})
    assert response.status_code == 422, response.text
    assert library_files(tmp_path) == []


def test_two_file_parts_are_422(client, tmp_path):
    body, content_type = multipart(
        [("file", "one.jpg", jpeg_bytes()), ("file", "two.jpg", jpeg_bytes())]
    )
    response = client.post("/assets", content=body, headers={"content-type": content_type})
    assert response.status_code == 422 and "one `file` part" in response.json()["detail"]
    assert library_files(tmp_path) == []


@pytest.mark.parametrize("value", ["yes", "1", "0", "maybe", ""])
def test_replace_must_be_true_or_false(client, tmp_path, value):
    client.post("/assets", files={"file": ("a.jpg", jpeg_bytes())})
    response = client.post(
        "/assets", files={"file": ("a.jpg", jpeg_bytes())}, data={"replace": value}
    )
    assert response.status_code == 422 and "replace" in response.json()["detail"]


def test_replace_true_overwrites(client, tmp_path):
    client.post("/assets", files={"file": ("a.jpg", jpeg_bytes((8, 8)))})
    bigger = jpeg_bytes((64, 64))
    response = client.post("/assets", files={"file": ("a.jpg", bigger)}, data={"replace": "true"})
    assert response.status_code == 202
    assert (tmp_path / "library" / "a.jpg").read_bytes() == bigger


def test_not_multipart_is_415(client):
    response = client.post("/assets", json={"file": "x"})
    assert response.status_code == 415 and "multipart" in response.json()["detail"]


def test_an_accepted_upload_exists_at_once_as_queued(client):
    accepted = client.post(
        "/assets", files={"file": ("sea.jpg", jpeg_bytes())}, data={"folder": "trips"}
    )
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "queued"
    asset = client.get(f"/assets/{body['asset_id']}")
    assert asset.status_code == 200
    shown = asset.json()
    assert (shown["status"], shown["path"], shown["media_type"]) == (
        "queued",
        "trips/sea.jpg",
        "image",
    )
    assert client.get("/search", params={"q": "sea"}).json()["hits"][0]["id"] == body["asset_id"]


def test_nothing_is_left_in_staging(client, tmp_path):
    client.post("/assets", files={"file": ("a.jpg", jpeg_bytes())})
    client.post("/assets", files={"file": ("b.jpg", b"not media")})
    client.post("/assets", files={"file": ("a.jpg", jpeg_bytes())})  # 409
    staging = tmp_path / "library" / STAGING_DIR
    assert not staging.exists() or list(staging.iterdir()) == []


# --- outages: 503 before anything is written --------------------------------------------

DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there


def outage_settings(tmp_path, **overrides) -> Settings:
    return settings_for(
        tmp_path,
        backend="opensearch",
        opensearch_url=DEAD_URL,
        opensearch_timeout_s=1,
        opensearch_max_retries=0,
        **overrides,
    )


def test_an_upload_during_a_backend_outage_is_503_and_writes_nothing(tmp_path):
    with TestClient(create_app(outage_settings(tmp_path))) as c:
        response = c.post("/assets", files={"file": ("a.jpg", jpeg_bytes())})
    assert response.status_code == 503 and "OpenSearch" in response.json()["detail"]
    assert library_files(tmp_path) == []


def test_reprocess_during_a_queue_outage_is_503_and_records_no_job(tmp_path):
    from catalog.jobs import open_job_store

    settings = settings_for(tmp_path, redis_url="redis://127.0.0.1:9/0")
    with TestClient(create_app(settings)) as c:
        response = c.post("/reprocess", json={})
    assert response.status_code == 503 and "queue" in response.json()["detail"]
    jobs = open_job_store(settings)
    assert jobs.list(10) == []
    jobs.close()


def test_an_upload_over_a_real_socket_is_refused_without_reading_it_all(tmp_path):
    """The same limit through uvicorn: the client sees 413, the library stays empty."""
    import threading

    import uvicorn

    settings = settings_for(tmp_path, max_file_mb=1)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    body, content_type = multipart([("file", "big.jpg", JPEG_HEAD + os.urandom(8 * MIB))])
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/assets",
            content=body,
            headers={"content-type": content_type},
            timeout=30,
        )
        assert response.status_code == 413
    finally:
        server.should_exit = True
        thread.join(10)
    assert library_files(tmp_path) == []
