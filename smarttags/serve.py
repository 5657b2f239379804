"""`smarttags serve`: the HTTP API; with `--with-worker`, a worker process beside it.

The API process stays light (no torch): the worker is a child process of its own
(`python -m smarttags worker`), started with the same settings and stopped with the API.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("smarttags.serve")
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


def run_api(settings: Any, host: str, port: int) -> None:
    import uvicorn

    from query.api import create_app

    uvicorn.run(create_app(settings), host=host, port=port)
