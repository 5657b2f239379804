"""Real smarttags processes for tests: `serve` and `worker` as a user starts them, and a real
`redis-server` on a free loopback port (skipped with the reason when it is not installed)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.settings import Settings

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTTAGS_")}
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            import json

            text = json.dumps(value)
        else:
            text = str(value)
        env[f"SMARTTAGS_{name.upper()}"] = text
    env.update(extra)
    env["HF_HUB_OFFLINE"] = "1"
    return env


class Proc:
    """A smarttags child process with its output in a file (read it with `log()`)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._out = log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        self.popen.wait(30)
        self._out.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._out.close()


def start_serve(env: dict[str, str], port: int, log: Path, *extra: str) -> tuple[Proc, str]:
    proc = Proc(
        ["-m", "smarttags", "serve", "--port", str(port), *extra], env, log
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc)
    return proc, url


def start_worker(env: dict[str, str], log: Path, *extra: str) -> Proc:
    return Proc(["-m", "smarttags", "worker", *extra], env, log)


def wait_http(url: str, proc: Proc, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.args} exited {proc.popen.returncode}:\n{proc.log()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{proc.log()}")


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
