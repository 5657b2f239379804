"""query/server.py: the API in several uvicorn worker processes on one socket."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from catalog.sqlite_store import SqliteStore
from query.server import listening_socket
from tests.backends import make_settings
from tests.fixtures import asset, tag

STARTUP_S = 60


def test_the_listening_socket_hands_out_tcp_sockets_that_asyncio_can_make_nodelay():
    # asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP
    server = listening_socket("127.0.0.1", 0)
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    assert server.proto == accepted.proto == socket.IPPROTO_TCP
    for sock in (accepted, client, server):
        sock.close()


def _get(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=STARTUP_S)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_two_worker_processes_answer_searches(tmp_path):
    settings = make_settings(tmp_path)
    store = SqliteStore(settings)
    store.upsert_many([asset("a", title="dog"), asset("b", smart_tags=[tag("dog", 0.9)])])
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from query.server import run; run('127.0.0.1', {port}, 2, log_level='warning')"
    env = {
        **os.environ,
        "SMARTTAGS_DATA_DIR": str(settings.data_dir),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                status, body = _get(port, "/search?q=dog")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        assert status == 200
        assert [h["id"] for h in body["hits"]] == ["a", "b"]
        assert body["total"] == {"value": 2, "relation": "eq"}
    finally:
        server.terminate()
        server.wait(30)
