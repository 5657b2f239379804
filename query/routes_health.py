"""Health: whether the backend, the queue and at least one worker are alive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from catalog.store import StoreError
from query.deps import QueueDep, StoreDep

router = APIRouter(tags=["health"])


def _probe(check: Any) -> dict[str, Any]:
    try:
        return {"ok": True, "detail": check()}
    except (StoreError, OSError) as exc:
        return {"ok": False, "detail": str(exc)}


@router.get("/healthz")
def healthz(store: StoreDep, queue: QueueDep) -> JSONResponse:
    """Backend, queue and workers: 200 when the backend and queue answer (with `workers` 0
    when no worker is alive: searches work, uploads wait), 503 otherwise."""
    backend = _probe(store.check)
    queue_state = _probe(queue.ping)
    try:
        workers = [w.to_json() for w in queue.live_workers()]
    except (StoreError, OSError):
        workers = []
    body: dict[str, Any] = {
        "status": "ok" if backend["ok"] and queue_state["ok"] else "unavailable",
        "backend": {**backend, "name": store.name},
        "queue": queue_state,
        "workers": {"alive": len(workers), "ok": bool(workers), "list": workers},
    }
    if backend["ok"]:
        body["assets"] = store.count()
    failing = [part["detail"] for part in (backend, queue_state) if not part["ok"]]
    if failing:
        body["detail"] = "; ".join(failing)
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)
