"""Assets: one document with its tags, its poster, and uploads that become indexing jobs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse

from catalog.asset import asset_id_for_path, normalize_folder
from catalog.settings import Settings
from query.auth import Actor
from query.deps import QueueDep, SettingsDep, StoreDep
from query.service import tag_listing

router = APIRouter(tags=["assets"])


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


@router.get("/assets/{asset_id}")
def get_asset(asset_id: str, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """One asset document, with its tags as search sees them."""
    asset = store.get(asset_id)
    if asset is None:
        raise HTTPException(status_code=404, detail=f"no asset with id {asset_id!r}")
    return {**asset.to_json_dict(), "tags": tag_listing(asset, settings)}


@router.post("/assets", status_code=202)
async def upload_asset(
    file: UploadFile,
    settings: SettingsDep,
    queue: QueueDep,
    actor: Actor,
    folder: Annotated[str, Form(description="library folder to put the file in")] = "",
    replace: Annotated[bool, Form(description="overwrite a file of the same name")] = False,
) -> dict[str, Any]:
    """Upload a video or image into the library; a worker indexes it (follow status_url)."""
    try:
        folder = normalize_folder(folder)
    except ValueError as exc:
        raise HTTPException(422, f"folder: {exc}") from None
    rel = f"{folder}/{_safe_name(file.filename)}" if folder else _safe_name(file.filename)
    target = settings.library_dir / rel
    if target.exists() and not replace:
        raise HTTPException(409, f"{rel} already exists; send replace=true to overwrite it")
    size = await _save_upload(file, target, settings)
    job = queue.submit("index", {"paths": [rel]}, actor=actor)
    assert job is not None  # a fresh id is never taken
    return {
        "job_id": job.id,
        "status_url": f"/jobs/{job.id}",
        "asset_id": asset_id_for_path(rel),
        "path": rel,
        "size_bytes": size,
    }


@router.get("/assets/{asset_id}/thumbnail", response_class=FileResponse)
def thumbnail(asset_id: str, settings: SettingsDep) -> FileResponse:
    """The asset's poster frame (JPEG)."""
    path = settings.thumbnail_path(asset_id)
    if "/" in asset_id or not path.is_file():
        raise HTTPException(404, f"no thumbnail for asset {asset_id!r}")
    return FileResponse(path, media_type="image/jpeg")
