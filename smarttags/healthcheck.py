"""`python -m smarttags.healthcheck api|worker`: the container health checks.

Exit 0 when healthy, else 1 with one line saying why. `api` asks the API on this host for
`/healthz` (200: the backend and the queue answer). `worker` looks in the job store for a
fresh heartbeat from a worker on this host (in a container: this container), which every
worker writes each `worker_heartbeat_s`; stale after three missed beats, as for `/healthz`.
The images have no curl, and a check that needs no HTTP port in the worker keeps workers
free of one.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request

from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.store import StoreError

EXIT_OK = 0
EXIT_UNHEALTHY = 1


class Unhealthy(Exception):
    """Why a process is not healthy, in one line."""


def check_api(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.api_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=settings.healthcheck_timeout_s) as response:
            return f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        raise Unhealthy(f"{url} answered {exc.code}: {body}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unhealthy(f"{url} did not answer: {getattr(exc, 'reason', exc)}") from None


def check_worker(settings: Settings, host: str | None = None) -> str:
    host = host or socket.gethostname()
    queue = JobQueue(settings)
    try:
        alive = [w.name for w in queue.live_workers() if w.host == host]
    except (StoreError, OSError) as exc:
        raise Unhealthy(f"cannot read worker heartbeats: {exc}") from None
    finally:
        queue.close()
    if not alive:
        raise Unhealthy(f"no worker on {host} has written a heartbeat lately")
    return f"worker {', '.join(alive)} alive"


CHECKS = {"api": check_api, "worker": check_worker}


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smarttags.healthcheck")
    parser.add_argument("process", choices=sorted(CHECKS))
    args = parser.parse_args(argv)
    try:
        print(CHECKS[args.process](settings or Settings()))
    except Unhealthy as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return EXIT_UNHEALTHY
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
