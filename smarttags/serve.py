"""`smarttags serve`: the HTTP API; with `--with-worker`, a worker process beside it.

The API process stays light (no torch): the worker is a child process of its own
(`python -m smarttags worker`), started with the same settings and stopped with the API.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("smarttags.serve")
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode
PR_SET_PDEATHSIG = 1  # prctl option: a signal for the child when its parent dies


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the API process dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker outlives a killed API
        pass


def worker_command(global_args: list[str], concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "smarttags",
        *global_args,
        "worker",
        "--concurrency",
        str(concurrency),
    ]


@contextmanager
def worker_beside(
    global_args: list[str], concurrency: int, stop_timeout_s: float
) -> Iterator[subprocess.Popen[Any]]:
    """A worker child process for as long as the block runs."""
    child = subprocess.Popen(
        worker_command(global_args, concurrency),
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        env=os.environ.copy(),
    )
    log.warning("started worker process %d", child.pid)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # graceful: running jobs finish
            try:
                child.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                child.terminate()  # running jobs are queued again
                child.wait()


def is_loopback(host: str) -> bool:
    """Only this machine can reach `host` (a name other than localhost counts as exposed)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Exposed(Exception):
    """Serving this address with no API key was not allowed."""


def check_exposure(settings: Any, host: str, allow_anonymous: bool) -> str | None:
    """A warning when `host` is reachable from other machines and no API key exists (with
    `allow_anonymous`); Exposed without it. None when a key exists or the host is loopback."""
    if is_loopback(host):
        return None
    from catalog.keys import open_key_store

    keys = open_key_store(settings)
    try:
        if keys.list():
            return None
    finally:
        keys.close()
    if not allow_anonymous:
        raise Exposed(
            f"{host} is reachable from other machines and no API key exists: add one "
            "(smarttags keys add NAME --role admin), or pass --allow-anonymous"
        )
    return (
        f"serving {host} with no API key (--allow-anonymous): anyone who reaches it may "
        "read, change and delete"
    )


def run_api(settings: Any, host: str, port: int, overrides: dict[str, Any]) -> None:
    """The API in `api_workers` processes (default one per CPU), each with its own store and
    term index; the settings given on the command line reach them through the environment."""
    from query import server
    from smarttags import api_app

    workers = settings.api_workers or os.cpu_count() or 1
    if workers == 1:
        server.serve_app(api_app.create_app(settings), host, port)
        return
    for name, value in overrides.items():
        os.environ[f"SMARTTAGS_{name.upper()}"] = str(value)
    # /metrics of any worker process sums the request latencies of them all; the samples
    # live under the data dir (not the system temp, which uploads must leave empty)
    shared = Path(settings.data_dir) / "metrics" / f"serve-{os.getpid()}"
    shared.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(METRICS_DIR, str(shared))
    try:
        server.run(host, port, workers=workers, factory=f"{api_app.__name__}:create_app")
    finally:
        shutil.rmtree(shared, ignore_errors=True)
