"""Custom tags over HTTP: training report and runs; training and tagging as worker jobs.

Nothing here loads a model: the jobs run in `smarttags worker`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, Field

from catalog.asset import normalize_folder, normalize_tag
from catalog.training_runs import latest_run, list_runs
from query.auth import Actor
from query.deps import QueueDep, SettingsDep
from query.routes_jobs import accepted
from query.training_report import report_dict

router = APIRouter(tags=["custom tags"])


class TrainingRequest(BaseModel):
    folder: str = Field("", description="train on assets under this folder ('' = all)")
    tags: list[str] = Field(default_factory=list, description="tags to train (empty: all)")


class AutotagRequest(BaseModel):
    folder: str = Field("", description="tag assets under this folder ('' = all)")
    force: bool = Field(False, description="re-tag every asset, even unaltered recent ones")


def _folder(folder: str) -> str:
    try:
        return normalize_folder(folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None


@router.get("/training/report")
def training_report(settings: SettingsDep) -> dict[str, Any]:
    """The latest training run's report: per tag positives, negatives, small images,
    cross-validated precision/recall/F1, threshold, coherence and status."""
    record = latest_run(settings)
    if record is None:
        raise HTTPException(404, "no training run yet: POST /training (or run `smarttags train`)")
    return report_dict(record)


@router.get("/training/runs")
def training_runs(settings: SettingsDep) -> dict[str, Any]:
    """Every training run, newest first, without its report rows."""
    runs = []
    for record in reversed(list_runs(settings)):
        data = record.to_dict()
        data["trained_tags"] = [r["tag"] for r in data.pop("tags") if r["status"] == "trained"]
        runs.append(data)
    return {"runs": runs}


@router.post("/training", status_code=202)
def start_training(
    queue: QueueDep, actor: Actor, body: Annotated[TrainingRequest | None, Body()] = None
) -> dict[str, Any]:
    """Train custom tags in a worker; follow the job at status_url."""
    body = body or TrainingRequest()
    try:
        tags = [normalize_tag(t) for t in body.tags]
    except ValueError as exc:
        raise HTTPException(422, f"tags: {exc}") from None
    job = queue.submit("train", {"folder": _folder(body.folder), "tags": tags}, actor=actor)
    assert job is not None
    return accepted(job.id)


@router.post("/autotag", status_code=202)
def start_autotag(
    settings: SettingsDep,
    queue: QueueDep,
    actor: Actor,
    body: Annotated[AutotagRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Apply the latest trained tags in a worker; follow the job at status_url."""
    body = body or AutotagRequest()
    if latest_run(settings) is None:
        raise HTTPException(409, "no training run yet: POST /training first")
    params = {"folder": _folder(body.folder), "force": body.force, "scheduled": False}
    job = queue.submit("autotag", params, actor=actor)
    assert job is not None
    return accepted(job.id)
