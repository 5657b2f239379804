"""Jobs: their progress and records, reprocessing as a job, and the schedule of workers.

Reprocessing selected assets needs the editor role; a folder or the whole library, admin.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from catalog.asset import ASSET_ID_PATTERN, FOLDER_PATTERN, normalize_folder, valid_asset_id
from catalog.jobs import JobRecord, JobState
from catalog.keys import Role
from catalog.queue import next_run
from query.auth import Actor, escalate, role_router
from query.deps import JobsDep, QueueDep, SettingsDep, StoreDep
from query.errors import errors
from query.schemas import JobList, ReprocessAccepted, Schedule

read = role_router(Role.reader, tags=["jobs"])
edit = role_router(Role.editor, tags=["jobs"])
routers = [read, edit]
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)
_MAX_IDS = 10_000  # asset ids in one reprocess request


class ReprocessRequest(BaseModel):
    """Which assets to reprocess (none given: the whole catalog) and how."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["retag", "full"] = "retag"
    folder: str | None = Field(
        None,
        description="catalog folder and its subfolders (admin)",
        json_schema_extra={"pattern": FOLDER_PATTERN},
    )
    asset_ids: list[Annotated[str, Field(json_schema_extra={"pattern": ASSET_ID_PATTERN})]] = Field(
        default_factory=list,
        max_length=_MAX_IDS,
        description="these assets only (editor); none and no folder: the whole library (admin)",
    )


def accepted(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "status_url": f"/jobs/{job_id}", **extra}


def _ready(store: Any, queue: Any) -> None:
    """Raises (503) when the store or the queue is down: checked before anything is written."""
    store.check()
    queue.ping()


@edit.post(
    "/reprocess",
    status_code=202,
    response_model=ReprocessAccepted,
    responses=errors(404, 413, 422),
)
async def reprocess(
    request: Request, body: ReprocessRequest, store: StoreDep, queue: QueueDep, actor: Actor
) -> dict[str, Any]:
    """Re-tag from cached embeddings (`retag`) or decode again (`full`); moderation is kept.

    Selected `asset_ids` need the editor role; a `folder`, or the whole library (neither
    given), the admin role (403 otherwise)."""
    if body.folder is not None or not body.asset_ids:
        escalate(request, Role.admin)
    try:
        folder = normalize_folder(body.folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None
    await run_in_threadpool(_ready, store, queue)
    unknown = [i for i in body.asset_ids if not valid_asset_id(i)]
    missing = unknown or await run_in_threadpool(
        lambda: [i for i in body.asset_ids if store.get(i) is None]
    )
    if missing:
        raise HTTPException(404, f"no asset with id {missing[0]!r}")
    params = {"mode": body.mode, "folder": folder, "asset_ids": body.asset_ids}
    job = await run_in_threadpool(queue.submit, "reprocess", params, actor)
    assert job is not None
    return accepted(job.id, mode=body.mode)


@read.get("/jobs", response_model=JobList)
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


def _job_id(
    job_id: Annotated[str, Path(json_schema_extra={"pattern": JOB_ID_PATTERN})],
) -> str:
    if not _JOB_ID.match(job_id):
        raise HTTPException(404, "no such job: not a valid job id")
    return job_id


@read.get("/jobs/{job_id}", response_model=JobRecord, responses=errors(404))
def job_status(job_id: Annotated[str, Depends(_job_id)], jobs: JobsDep) -> dict[str, Any]:
    """One job: state, done/total, current file, errors by file, and its summary when done."""
    record = jobs.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return record.to_json()


@read.get("/schedule", response_model=Schedule)
def schedule_status(settings: SettingsDep) -> dict[str, Any]:
    """Scheduled training and custom tagging: run by workers, on these cron schedules."""
    enabled = settings.schedule_enabled
    runs = {"train": settings.training_cron, "autotag": settings.tagging_cron}
    return {
        "enabled": enabled,
        "runs_in": "workers (smarttags worker)",
        "training_cron": settings.training_cron,
        "tagging_cron": settings.tagging_cron,
        # cron times are server local time: said with its offset, as RFC 3339 wants
        "next_runs": {k: next_run(c).astimezone().isoformat() for k, c in runs.items()}
        if enabled
        else {},
    }
