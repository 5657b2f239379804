"""HTTP side of bench/search_latency.py: a real uvicorn server process per engine, one
keep-alive client for latency, several concurrent clients for throughput."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

STARTUP_TIMEOUT_S = 120.0
POLL_S = 0.2


@dataclass(frozen=True)
class Throughput:
    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def uvicorn_server(
    factory: str, env: dict[str, str], workers: int, warm_path: str
) -> Iterator[tuple[str, int]]:
    """The app of `factory` under uvicorn (query/server.py) in a process of its own; yields
    (host, port) once requests to `warm_path` were answered (the first builds the index)."""
    port = free_port()
    code = (
        "from query.server import run; "
        f"run('127.0.0.1', {port}, {workers}, {factory!r}, access_log=False, log_level='warning')"
    )
    server = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env})
    try:
        _wait_until_up(("127.0.0.1", port), warm_path, workers, server)
        yield "127.0.0.1", port
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_until_up(
    address: tuple[str, int], path: str, workers: int, server: subprocess.Popen
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    answered = 0
    while answered < 4 * workers:  # new connections land on every worker in time
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not answer in time")
        try:
            conn = http.client.HTTPConnection(*address, timeout=STARTUP_TIMEOUT_S)
            conn.request("GET", path)
            if conn.getresponse().read() is not None:
                answered += 1
            conn.close()
        except OSError:
            time.sleep(POLL_S)


def search_path(params: dict[str, object]) -> str:
    return "/search?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def latencies(address: tuple[str, int], paths: Sequence[str]) -> list[float]:
    """Milliseconds per request, one keep-alive connection, one request at a time."""
    conn = http.client.HTTPConnection(*address)
    out = []
    for path in paths:
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
    conn.close()
    return out


def throughput(
    address: tuple[str, int], paths: Sequence[str], clients: int, seconds: float
) -> Throughput:
    """Requests answered by `clients` keep-alive clients in threads, for `seconds`."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients
    errors = [0] * clients

    def client(number: int) -> None:
        conn = http.client.HTTPConnection(*address)
        i = number
        while time.perf_counter() < stop:
            try:
                conn.request("GET", paths[i % len(paths)])
                response = conn.getresponse()
                response.read()
                counts[number] += 1
                errors[number] += response.status != 200
            except (OSError, http.client.HTTPException):
                errors[number] += 1
                conn.close()
                conn = http.client.HTTPConnection(*address)
            i += clients
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Throughput(sum(counts), sum(errors), time.perf_counter() - start)
