"""Custom tags over HTTP: training report and runs; training and tagging as worker jobs.

Nothing here loads a model: the jobs run in `smarttags worker`. Starting them needs the admin
role; the report and the runs, the reader role.
"""

from typing import Annotated, Any, Literal

from fastapi import Body, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from catalog.asset import (
    FOLDER_PATTERN,
    MAX_TAG_CHARS,
    TAG_PATTERN,
    normalize_folder,
    normalize_tag,
)
from catalog.keys import Role
from catalog.training_runs import latest_run, list_runs
from query.auth import Actor, role_router
from query.deps import QueueDep, SettingsDep
from query.errors import errors
from query.routes_jobs import accepted
from query.schemas import JobAccepted, TrainingReport, TrainingRuns
from query.training_report import report_dict, to_csv, xlsx_bytes

read = role_router(Role.reader, tags=["custom tags"])
admin = role_router(Role.admin, tags=["custom tags"])
routers = [read, admin]
_MAX_TRAIN_TAGS = 1000

FolderField = Annotated[str, Field(json_schema_extra={"pattern": FOLDER_PATTERN})]
TagField = Annotated[
    str, Field(max_length=MAX_TAG_CHARS, json_schema_extra={"pattern": TAG_PATTERN})
]


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: FolderField = Field("", description="train on assets under this folder ('' = all)")
    tags: list[TagField] = Field(
        default_factory=list, max_length=_MAX_TRAIN_TAGS, description="tags to train (empty: all)"
    )


class AutotagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: FolderField = Field("", description="tag assets under this folder ('' = all)")
    force: StrictBool = Field(False, description="re-tag every asset, even unaltered recent ones")


def _folder(folder: str) -> str:
    try:
        return normalize_folder(folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DOWNLOADS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX,
}
_REPORT_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    XLSX: {"schema": {"type": "string", "format": "binary"}},
}


@read.get(
    "/training/report",
    response_model=TrainingReport,
    responses={200: {"content": _REPORT_CONTENT}, **errors(404)},
)
def training_report(
    settings: SettingsDep,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(description="json (default), or a download: csv, xlsx (an Excel workbook)"),
    ] = "json",
) -> Any:
    """The latest training run's report: per tag positives, negatives, small images,
    cross-validated precision/recall/F1, threshold, coherence and status."""
    record = latest_run(settings)
    if record is None:
        raise HTTPException(404, "no training run yet: POST /training (or run `smarttags train`)")
    if format == "json":
        return report_dict(record)
    body = to_csv(record).encode() if format == "csv" else xlsx_bytes(record)
    name = f"training-{record.run}.{format}"
    return Response(
        body,
        media_type=_DOWNLOADS[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@read.get("/training/runs", response_model=TrainingRuns)
def training_runs(settings: SettingsDep) -> dict[str, Any]:
    """Every training run, newest first, without its report rows."""
    runs = []
    for record in reversed(list_runs(settings)):
        data = record.to_dict()
        data["trained_tags"] = [r["tag"] for r in data.pop("tags") if r["status"] == "trained"]
        runs.append(data)
    return {"runs": runs}


@admin.post("/training", status_code=202, response_model=JobAccepted, responses=errors(413, 422))
def start_training(
    queue: QueueDep, actor: Actor, body: Annotated[TrainingRequest | None, Body()] = None
) -> dict[str, Any]:
    """Train custom tags in a worker; follow the job at status_url."""
    body = body or TrainingRequest()
    try:
        tags = [normalize_tag(t) for t in body.tags]
    except ValueError as exc:
        raise HTTPException(422, f"tags: {exc}") from None
    folder = _folder(body.folder)
    queue.ping()
    job = queue.submit("train", {"folder": folder, "tags": tags}, actor=actor)
    assert job is not None
    return accepted(job.id)


@admin.post(
    "/autotag", status_code=202, response_model=JobAccepted, responses=errors(409, 413, 422)
)
def start_autotag(
    settings: SettingsDep,
    queue: QueueDep,
    actor: Actor,
    body: Annotated[AutotagRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Apply the latest trained tags in a worker; follow the job at status_url."""
    body = body or AutotagRequest()
    folder = _folder(body.folder)
    if latest_run(settings) is None:
        raise HTTPException(409, "no training run yet: POST /training first")
    queue.ping()
    params = {"folder": folder, "force": body.force, "scheduled": False}
    job = queue.submit("autotag", params, actor=actor)
    assert job is not None
    return accepted(job.id)
