"""The container health checks (`python -m smarttags.healthcheck api|worker`) against a real
API server on a loopback port and a real worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from query.api import create_app
from smarttags.healthcheck import EXIT_OK, EXIT_UNHEALTHY, Unhealthy, check_worker, main
from tests.backends import make_settings
from tests.workers import worker_thread

STARTUP_S = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def api_server(settings) -> Iterator[None]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.api_port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_S
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(STARTUP_S)


def until(condition, timeout: float = STARTUP_S) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_api_check_follows_the_server(tmp_path, capsys):
    settings = make_settings(tmp_path, api_port=free_port(), healthcheck_timeout_s=2)
    with api_server(settings):
        assert main(["api"], settings) == EXIT_OK
        assert "answered 200" in capsys.readouterr().out
    assert main(["api"], settings) == EXIT_UNHEALTHY
    assert "did not answer" in capsys.readouterr().err


def test_worker_check_needs_a_fresh_heartbeat_from_this_host(tmp_path):
    settings = make_settings(tmp_path, worker_heartbeat_s=0.2)
    assert main(["worker"], settings) == EXIT_UNHEALTHY
    with worker_thread(settings):
        assert until(lambda: main(["worker"], settings) == EXIT_OK)
        with pytest.raises(Unhealthy, match="no worker on elsewhere"):
            check_worker(settings, host="elsewhere")
    # a worker that stopped beating is stale after three missed beats
    assert until(lambda: main(["worker"], settings) == EXIT_UNHEALTHY)


def test_the_module_runs_as_the_images_call_it(tmp_path):
    env = {**os.environ, "SMARTTAGS_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "smarttags.healthcheck"]
    found = subprocess.run([*command, "worker"], env=env, capture_output=True, text=True)
    assert found.returncode == EXIT_UNHEALTHY
    assert found.stderr.strip().startswith("unhealthy: no worker on")
    assert len(found.stderr.strip().splitlines()) == 1
    unknown = subprocess.run([*command, "database"], env=env, capture_output=True, text=True)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
