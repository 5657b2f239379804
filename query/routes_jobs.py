"""Jobs: their progress and records, reprocessing as a job, and the schedule of workers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from catalog.asset import normalize_folder
from catalog.jobs import JobState
from catalog.queue import next_run
from query.auth import Actor
from query.deps import JobsDep, QueueDep, SettingsDep, StoreDep

router = APIRouter(tags=["jobs"])


class ReprocessRequest(BaseModel):
    """Which assets to reprocess (none given: the whole catalog) and how."""

    mode: Literal["retag", "full"] = "retag"
    folder: str | None = Field(None, description="catalog folder and its subfolders")
    asset_ids: list[str] = Field(default_factory=list, description="these assets only")


def accepted(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "status_url": f"/jobs/{job_id}", **extra}


@router.post("/reprocess", status_code=202)
def reprocess(
    body: ReprocessRequest, store: StoreDep, queue: QueueDep, actor: Actor
) -> dict[str, Any]:
    """Re-tag from cached embeddings (`retag`) or decode again (`full`); moderation is kept."""
    missing = [i for i in body.asset_ids if store.get(i) is None]
    if missing:
        raise HTTPException(404, f"no asset with id {missing[0]!r}")
    try:
        folder = normalize_folder(body.folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None
    params = {"mode": body.mode, "folder": folder, "asset_ids": body.asset_ids}
    job = queue.submit("reprocess", params, actor=actor)
    assert job is not None
    return accepted(job.id, mode=body.mode)


@router.get("/jobs")
def list_jobs(
    jobs: JobsDep,
    settings: SettingsDep,
    state: Annotated[list[JobState] | None, Query(description="only jobs in these states")] = None,
    kind: Annotated[str | None, Query(description="only jobs of this kind")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> dict[str, Any]:
    """Running and recent jobs, newest first, with their progress."""
    records = jobs.list(limit or settings.job_list_limit, tuple(state or ()), kind)
    return {"jobs": [r.to_json() for r in records], "counts": jobs.counts()}


@router.get("/jobs/{job_id}")
def job_status(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """One job: state, done/total, current file, errors by file, and its summary when done."""
    record = jobs.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return record.to_json()


@router.get("/schedule")
def schedule_status(settings: SettingsDep) -> dict[str, Any]:
    """Scheduled training and custom tagging: run by workers, on these cron schedules."""
    enabled = settings.schedule_enabled
    runs = {"train": settings.training_cron, "autotag": settings.tagging_cron}
    return {
        "enabled": enabled,
        "runs_in": "workers (smarttags worker)",
        "training_cron": settings.training_cron,
        "tagging_cron": settings.tagging_cron,
        "next_runs": {k: next_run(c).isoformat() for k, c in runs.items()} if enabled else {},
    }
