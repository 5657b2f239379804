"""Uploads that become indexing jobs, job status, and poster thumbnails."""

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from catalog.asset import asset_id_for_path, normalize_folder
from catalog.settings import Settings
from indexer.jobs import Job, JobRunner

router = APIRouter()


def _safe_name(name: str | None) -> str:
    base = Path((name or "").replace("\\", "/")).name.strip()
    if not base or base.startswith("."):
        raise HTTPException(422, "the upload needs a file name that does not start with '.'")
    return base


async def _save_upload(upload: UploadFile, target: Path, settings: Settings) -> int:
    """Stream to a temp file beside the target; refuse past the size limit, keep nothing."""
    limit = int(settings.max_file_mb * 1024 * 1024)
    chunk = settings.upload_chunk_kb * 1024
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    written = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while data := await upload.read(chunk):
                written += len(data)
                if written > limit:
                    raise HTTPException(
                        413,
                        f"the file is larger than the {settings.max_file_mb:g}"
                        " MB limit (SMARTTAGS_MAX_FILE_MB)",
                    )
                out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written


def _index_work(settings: Settings, request: Request, target: Path):
    def work(job: Job, progress) -> dict[str, Any]:
        from indexer.engine import TaggingEngine
        from indexer.pipeline import IndexRun
        from indexer.scan import scan

        store = request.app.state.stores.get()
        tasks = scan([target], settings.library_dir)
        job.total = len(tasks)
        run = IndexRun(settings, store, TaggingEngine(settings), reprocess=True, progress=progress)
        return run.run(tasks).to_dict()

    return work


class ReprocessRequest(BaseModel):
    """Which assets to reprocess (none given: the whole catalog) and how."""

    mode: Literal["retag", "full"] = "retag"
    folder: str | None = Field(None, description="catalog folder and its subfolders")
    asset_ids: list[str] = Field(default_factory=list, description="these assets only")


def _reprocess_work(settings: Settings, request: Request, body: ReprocessRequest):
    def work(job: Job, progress) -> dict[str, Any]:
        from indexer.engine import TaggingEngine
        from indexer.reprocess import Mode, Reprocess, Selection

        store = request.app.state.stores.get()
        selection = Selection(folder=body.folder, asset_ids=body.asset_ids)
        run = Reprocess(settings, store, TaggingEngine(settings), Mode(body.mode), progress)
        return run.run(selection).to_dict()

    return work


def _jobs(request: Request) -> JobRunner:
    return request.app.state.jobs


@router.post("/assets", status_code=202, tags=["assets"])
async def upload_asset(
    request: Request,
    file: UploadFile,
    folder: Annotated[str, Form(description="library folder to put the file in")] = "",
    replace: Annotated[bool, Form(description="overwrite a file of the same name")] = False,
) -> dict[str, Any]:
    """Upload a video or image into the library; it is indexed by a background job."""
    settings: Settings = request.app.state.settings
    try:
        folder = normalize_folder(folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None
    rel = f"{folder}/{_safe_name(file.filename)}" if folder else _safe_name(file.filename)
    target = settings.library_dir / rel
    if target.exists() and not replace:
        raise HTTPException(409, f"{rel} already exists; send replace=true to overwrite it")
    size = await _save_upload(file, target, settings)
    job = _jobs(request).submit("index", _index_work(settings, request, target))
    return {
        "job_id": job.id,
        "status_url": f"/jobs/{job.id}",
        "asset_id": asset_id_for_path(rel),
        "path": rel,
        "size_bytes": size,
    }


@router.post("/reprocess", status_code=202, tags=["jobs"])
def reprocess(body: ReprocessRequest, request: Request) -> dict[str, Any]:
    """Re-tag from cached embeddings (`retag`) or decode again (`full`); moderation is kept."""
    store = request.app.state.stores.get()
    missing = [i for i in body.asset_ids if store.get(i) is None]
    if missing:
        raise HTTPException(404, f"no asset with id {missing[0]!r}")
    try:
        body.folder = normalize_folder(body.folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None
    settings: Settings = request.app.state.settings
    job = _jobs(request).submit(f"reprocess-{body.mode}", _reprocess_work(settings, request, body))
    return {"job_id": job.id, "status_url": f"/jobs/{job.id}", "mode": body.mode}


@router.get("/jobs/{job_id}", tags=["jobs"])
def job_status(job_id: str, request: Request) -> dict[str, Any]:
    """Progress of a job: state, done/total, current file, errors, and its summary when done."""
    job = _jobs(request).get(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return job.to_dict()


@router.get("/assets/{asset_id}/thumbnail", tags=["assets"], response_class=FileResponse)
def thumbnail(asset_id: str, request: Request) -> FileResponse:
    """The asset's poster frame (JPEG)."""
    path = request.app.state.settings.thumbnail_path(asset_id)
    if "/" in asset_id or not path.is_file():
        raise HTTPException(404, f"no thumbnail for asset {asset_id!r}")
    return FileResponse(path, media_type="image/jpeg")
