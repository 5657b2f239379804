"""Assets: one document with its tags, its poster, and uploads that become indexing jobs."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from catalog.asset import (
    ASSET_ID_PATTERN,
    FOLDER_PATTERN,
    Asset,
    AssetStatus,
    asset_id_for_path,
    utc_now,
    valid_asset_id,
)
from catalog.curation import AssetNotFound, WriteConflict, edit_metadata, update_asset
from catalog.keys import Role
from catalog.queue import JobQueue, QueueUnavailable
from catalog.settings import Settings
from catalog.store import AssetStore
from catalog.tag_thresholds import current_thresholds
from query.auth import Actor, role_router
from query.deps import QueueDep, SettingsDep, StoreDep
from query.errors import errors
from query.metadata_edit import AssetEdit, check_limits
from query.schemas import AssetView, UploadAccepted
from query.service import tag_listing
from query.uploads import (
    StagedUpload,
    UploadTarget,
    boundary_of,
    check_declared_length,
    multipart_form,
    place,
    read_form,
    target_of,
)

read = role_router(Role.reader, tags=["assets"])
edit = role_router(Role.editor, tags=["assets"])
# the upload streams its body with its own limit (query/uploads.py): its router is included
# without the API's JSON body limit
upload = role_router(Role.editor, tags=["assets"])
routers = [read, edit]


def _asset_id(
    asset_id: Annotated[
        str, Path(description="an asset id", json_schema_extra={"pattern": ASSET_ID_PATTERN})
    ],
) -> str:
    """An id that cannot be an asset's is simply not found (never a 500, whatever its size)."""
    if not valid_asset_id(asset_id):
        raise HTTPException(404, "no such asset: not a valid asset id")
    return asset_id


AssetId = Annotated[str, Depends(_asset_id)]

# The upload reads its body itself (query/uploads.py), so the form is declared here.
UPLOAD_FORM = multipart_form(
    "a video or image (up to SMARTTAGS_MAX_FILE_MB); its part carries the file name",
    folder={
        "type": "string",
        "default": "",
        "pattern": FOLDER_PATTERN,
        "description": "library folder to put the file in",
    },
    replace={
        "type": "boolean",
        "default": False,
        "description": "overwrite a file of the same name",
    },
)


@read.get("/assets/{asset_id}", response_model=AssetView, responses=errors(404))
def get_asset(asset_id: AssetId, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """One asset document, with its tags as search sees them."""
    asset = store.get(asset_id)
    if asset is None:
        raise HTTPException(status_code=404, detail=f"no asset with id {asset_id!r}")
    thresholds = current_thresholds(store, settings)
    return {**asset.to_json_dict(), "tags": tag_listing(asset, settings, thresholds=thresholds)}


def _ready(store: AssetStore, queue: JobQueue) -> None:
    """Raises (503) when the store or the queue is down: checked before anything is written."""
    store.check()
    queue.ping()
    queue.jobs.check()


def _mark_queued(store: AssetStore, settings: Settings, target: UploadTarget, size: int) -> str:
    """The asset exists from now on, `queued`; the worker's indexing replaces it."""
    asset_id = asset_id_for_path(target.rel)

    def change(current: Asset | None) -> Asset:
        update = {
            "status": AssetStatus.queued,
            "status_reason": None,
            "fingerprint": None,  # whatever was indexed before, this file is to be processed
            "media_type": target.media_type,
            "size_bytes": size,
            "updated_at": utc_now(),
        }
        if current is not None:
            return current.model_copy(update=update)
        return Asset.model_validate({"id": asset_id, "path": target.rel, **update})

    update_asset(store, asset_id, change, settings.write_retries)
    return asset_id


def _place(upload: StagedUpload, target: UploadTarget, settings: Settings) -> bool:
    """Move the staged file into the library; 409 when it exists and replace is off. Returns
    whether the file is new."""
    path = settings.library_dir / target.rel
    existed = path.exists()
    if existed and not target.replace:
        raise HTTPException(409, f"{target.rel} already exists; send replace=true to overwrite it")
    if not place(upload, path, target.replace):
        raise HTTPException(409, f"{target.rel} already exists; send replace=true to overwrite it")
    return not existed


def _undo(store: AssetStore, settings: Settings, target: UploadTarget, asset_id: str) -> None:
    """A new file whose job could not be queued leaves the library as it was."""
    (settings.library_dir / target.rel).unlink(missing_ok=True)
    store.delete(asset_id)


@upload.post(
    "/assets",
    status_code=202,
    response_model=UploadAccepted,
    responses=errors(409, 413, 415, 422),
    openapi_extra=UPLOAD_FORM,
)
async def upload_asset(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    queue: QueueDep,
    actor: Actor,
) -> dict[str, Any]:
    """Upload a video or image into the library; a worker indexes it (follow status_url).

    The asset exists at once with status `queued`. Refused: over the size limit (413, read no
    further), not media by its content (415), empty, or a bad name or folder (422), an
    existing name without replace=true (409); 503 when the store or queue is down (nothing
    written)."""
    check_declared_length(request.headers, settings)
    boundary = boundary_of(request.headers.get("content-type"))
    await run_in_threadpool(_ready, store, queue)
    upload = await read_form(request.stream(), boundary, settings)
    try:
        target = target_of(upload, settings)
        is_new = await run_in_threadpool(_place, upload, target, settings)
    finally:
        upload.discard()
    asset_id = await run_in_threadpool(_mark_queued, store, settings, target, upload.size)
    try:
        job = await run_in_threadpool(queue.submit, "index", {"paths": [target.rel]}, actor)
    except QueueUnavailable:
        if is_new:
            await run_in_threadpool(_undo, store, settings, target, asset_id)
        raise
    assert job is not None  # a fresh id is never taken
    return {
        "job_id": job.id,
        "status_url": f"/jobs/{job.id}",
        "asset_id": asset_id,
        "path": target.rel,
        "size_bytes": upload.size,
        "status": AssetStatus.queued.value,
    }


@read.get(
    "/assets/{asset_id}/thumbnail",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **errors(404),
    },
)
def thumbnail(asset_id: AssetId, settings: SettingsDep) -> FileResponse:
    """The asset's poster frame (JPEG)."""
    path = settings.thumbnail_path(asset_id)
    if not path.is_file():
        raise HTTPException(404, f"no thumbnail for asset {asset_id!r}")
    return FileResponse(path, media_type="image/jpeg")


@edit.patch("/assets/{asset_id}", response_model=AssetView, responses=errors(404, 409, 413, 422))
def edit_asset(
    asset_id: AssetId, change: AssetEdit, store: StoreDep, settings: SettingsDep, actor: Actor
) -> dict[str, Any]:
    """Set the title, description and/or keywords; each field that changed is written to the
    asset's audit log (action `edit`, its text before and after). Reprocessing keeps them.
    Answers the asset as GET does."""
    changes = change.model_dump(exclude_unset=True)
    try:
        check_limits(changes, settings)
        done = edit_metadata(
            store, asset_id, changes, actor, settings.write_retries, settings.audit_value_chars
        )
    except AssetNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except WriteConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {**done.asset.to_json_dict(), "tags": tag_listing(done.asset, settings)}


def media_path(asset: Asset, settings: Settings) -> FsPath | None:
    """The asset's file, only when it lies inside its library root (a symlink or a stored
    path leading elsewhere is never served); None when it is not there."""
    root = FsPath(asset.library_root) if asset.library_root else settings.library_dir
    try:
        root = root.resolve(strict=True)
        path = (root / asset.path).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def _check_range(header: str | None, size: int) -> None:
    """Range errors as the API's error body (FileResponse itself would answer plain text);
    the same parser FileResponse then applies."""
    if not header:
        return
    try:
        FileResponse._parse_range_header(header, size)
    except MalformedRangeHeader as exc:
        raise HTTPException(400, f"Range: {exc.content}") from None
    except RangeNotSatisfiable:
        raise HTTPException(
            416,
            f"Range: the file has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        ) from None


_MEDIA_CONTENT = {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in ("video/*", "image/*", "application/octet-stream")
}


@read.get(
    "/assets/{asset_id}/media",
    response_class=FileResponse,
    responses={
        200: {"content": _MEDIA_CONTENT, "description": "the whole file"},
        206: {"content": _MEDIA_CONTENT, "description": "the byte range asked for"},
        **errors(404, 416),
    },
)
def media(
    asset_id: AssetId, request: Request, store: StoreDep, settings: SettingsDep
) -> FileResponse:
    """The original video or image, for players: honours `Range: bytes=...` (206 with the
    part, 416 when it lies outside the file). 404 when the asset or its file is unknown."""
    asset = store.get(asset_id)
    if asset is None:
        raise HTTPException(404, f"no asset with id {asset_id!r}")
    path = media_path(asset, settings)
    if path is None:
        raise HTTPException(404, f"the file of asset {asset_id!r} is not in the library")
    _check_range(request.headers.get("range"), path.stat().st_size)
    return FileResponse(path, filename=path.name, content_disposition_type="inline")
