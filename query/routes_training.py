"""Custom tags over HTTP: training report and runs, training and tagging as background jobs.

Nothing here loads a model: jobs import the indexer's heavy parts in the worker thread.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel, Field

from catalog.asset import normalize_folder, normalize_tag
from catalog.settings import Settings
from indexer.jobs import JobRunner, JobWork
from indexer.training_jobs import autotag_work, training_work
from indexer.training_report import report_dict
from indexer.training_runs import latest_run, list_runs

router = APIRouter(tags=["custom tags"])


class TrainingRequest(BaseModel):
    folder: str = Field("", description="train on assets under this folder ('' = all)")
    tags: list[str] = Field(default_factory=list, description="tags to train (empty: all)")


class AutotagRequest(BaseModel):
    folder: str = Field("", description="tag assets under this folder ('' = all)")
    force: bool = Field(False, description="re-tag every asset, even unaltered recent ones")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _submit(request: Request, kind: str, work: JobWork) -> dict[str, Any]:
    jobs: JobRunner = request.app.state.jobs
    job = jobs.submit(kind, work)
    return {"job_id": job.id, "status_url": f"/jobs/{job.id}"}


def _folder(folder: str) -> str:
    try:
        return normalize_folder(folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None


@router.get("/training/report")
def training_report(request: Request) -> dict[str, Any]:
    """The latest training run's report: per tag positives, negatives, small images,
    cross-validated precision/recall/F1, threshold, coherence and status."""
    record = latest_run(_settings(request))
    if record is None:
        raise HTTPException(404, "no training run yet: POST /training (or run `smarttags train`)")
    return report_dict(record)


@router.get("/training/runs")
def training_runs(request: Request) -> dict[str, Any]:
    """Every training run, newest first, without its report rows."""
    runs = []
    for record in reversed(list_runs(_settings(request))):
        data = record.to_dict()
        data["trained_tags"] = [r["tag"] for r in data.pop("tags") if r["status"] == "trained"]
        runs.append(data)
    return {"runs": runs}


@router.post("/training", status_code=202)
def start_training(
    request: Request, body: Annotated[TrainingRequest | None, Body()] = None
) -> dict[str, Any]:
    """Train custom tags in the background; follow the job at status_url."""
    body = body or TrainingRequest()
    try:
        tags = [normalize_tag(t) for t in body.tags]
    except ValueError as exc:
        raise HTTPException(422, f"tags: {exc}") from None
    settings = _settings(request)
    work = training_work(settings, request.app.state.stores.get, _folder(body.folder), tags)
    return _submit(request, "train", work)


@router.post("/autotag", status_code=202)
def start_autotag(
    request: Request, body: Annotated[AutotagRequest | None, Body()] = None
) -> dict[str, Any]:
    """Apply the latest trained tags in the background; follow the job at status_url."""
    body = body or AutotagRequest()
    settings = _settings(request)
    if latest_run(settings) is None:
        raise HTTPException(409, "no training run yet: POST /training first")
    work = autotag_work(settings, request.app.state.stores.get, _folder(body.folder), body.force)
    return _submit(request, "autotag", work)
