"""Runs the HTTP API under uvicorn, in several worker processes sharing one listening socket.

Each worker holds its own store and term index (kept in step with the SQLite file, see
catalog/sqlite_index.py), so searches run in parallel on every core and readers never wait
for each other. The listening socket is made here, not by uvicorn: asyncio turns Nagle's
algorithm off (TCP_NODELAY) only on sockets whose protocol is IPPROTO_TCP, and uvicorn's own
multi-worker socket leaves it unset, so every response written in two parts (headers, body)
would wait on the client's delayed acknowledgement, about 40 ms.
"""

from __future__ import annotations

import gc
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from query import api

LISTEN_BACKLOG = 2048


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def freeze_heap() -> None:
    """Move what is alive now out of the garbage collector's way: a full collection then
    walks only the objects made since (per request), not the whole loaded process."""
    gc.collect()
    gc.freeze()


def create_app() -> Any:
    """The API app, built in each worker process (uvicorn factory)."""
    app = api.create_app()
    freeze_heap()
    return app


def serve_app(app: Any, host: str, port: int, **options: Any) -> None:
    """Serve one app object in this process until interrupted."""
    freeze_heap()
    config = uvicorn.Config(app, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def run(
    host: str,
    port: int,
    workers: int = 1,
    factory: str = f"{__name__}:create_app",
    **options: Any,
) -> None:
    """Serve the app of `factory` ("module:function") until interrupted, in `workers`
    processes; `options` go to uvicorn.Config."""
    config = uvicorn.Config(factory, factory=True, host=host, port=port, workers=workers, **options)
    sock = listening_socket(host, port)
    if workers <= 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()
