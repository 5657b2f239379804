"""Tag moderation, its audit log, and per-folder smart-tag settings over HTTP.

Mutating routes take the `Actor` dependency (query/auth.py): with API keys configured they
need the `X-API-Key` header, and the audit log records who wrote. Folder paths are
library-relative (`campaigns/summer`); the library root is `/folders/settings` (and `.` as a
path, `/folders/./settings`, where a client keeps dot segments).

Errors: 404 unknown asset, 422 bad input or a refused moderation, 409 when the asset kept
changing under every retry (send it again).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from catalog.audit import ModerationAction
from catalog.curation import AssetNotFound, WriteConflict
from catalog.folders import Toggle
from catalog.settings import Settings
from catalog.store import AssetStore
from query import curation_service as curation
from query.auth import Actor

router = APIRouter()


def _store(request: Request) -> AssetStore:
    return request.app.state.stores.get()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


Store = Annotated[AssetStore, Depends(_store)]
AppSettings = Annotated[Settings, Depends(_settings)]


@contextmanager
def _http_errors() -> Iterator[None]:
    """Catalog errors as HTTP codes; WriteConflict before the app's StoreError -> 503."""
    try:
        yield
    except AssetNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except WriteConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:  # ModerationRefused, bad tag names, bad folder paths
        raise HTTPException(422, str(exc)) from None


class TagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["remove", "promote", "add", "restore"]
    tag: str


class FolderChange(BaseModel):
    """Missing keys keep their current value."""

    model_config = ConfigDict(extra="forbid")

    video: Toggle | None = None
    image: Toggle | None = None


@router.get("/assets/{asset_id}/tags", tags=["tags"])
def list_tags(asset_id: str, store: Store, settings: AppSettings) -> dict[str, Any]:
    """All tags as search shows them (strongest first), and the removed tags apart."""
    with _http_errors():
        return curation.asset_tags(store, asset_id, settings)


@router.post("/assets/{asset_id}/tags", tags=["tags"])
def change_tag(
    asset_id: str, change: TagChange, store: Store, settings: AppSettings, actor: Actor
) -> dict[str, Any]:
    """Remove, promote, add (manual, weight 1.0) or restore one tag.

    Answers the state before and after, `changed` (false when the tag already was so), the
    audit entry, and the new tag listing."""
    with _http_errors():
        return curation.apply_moderation(
            store, settings, asset_id, ModerationAction(change.action), change.tag, actor
        )


@router.post("/assets/{asset_id}/tags/undo", tags=["tags"])
def undo_tag_change(
    asset_id: str, store: Store, settings: AppSettings, actor: Actor
) -> dict[str, Any]:
    """Revert the asset's latest moderation that is not undone yet (422 when none is left)."""
    with _http_errors():
        return curation.undo_moderation(store, settings, asset_id, actor)


@router.delete("/assets/{asset_id}/tags/{tag:path}", tags=["tags"])
def remove_tag(
    asset_id: str, tag: str, store: Store, settings: AppSettings, actor: Actor
) -> dict[str, Any]:
    """Remove one tag (as POST with action `remove`); restore it to bring it back."""
    with _http_errors():
        return curation.apply_moderation(
            store, settings, asset_id, ModerationAction.remove, tag, actor
        )


@router.get("/assets/{asset_id}/audit", tags=["tags"])
def audit_log(
    asset_id: str,
    store: Store,
    settings: AppSettings,
    limit: Annotated[
        int | None, Query(ge=1, description="entries (default SMARTTAGS_AUDIT_PAGE_SIZE)")
    ] = None,
) -> dict[str, Any]:
    """The asset's moderation history, newest first: when, what, before/after, by whom."""
    with _http_errors():
        entries = curation.audit_entries(store, settings, asset_id, limit)
    return {"asset_id": asset_id, "entries": entries}


@router.get("/folders", tags=["folders"])
def list_folders(store: Store, settings: AppSettings) -> dict[str, Any]:
    """Every folder with an explicit setting, with its effective values."""
    return {"folders": curation.list_folders(store, settings)}


@router.get("/folders/settings", tags=["folders"])
def root_settings(store: Store, settings: AppSettings) -> dict[str, Any]:
    """The library root's settings (`folder` is '')."""
    return folder_settings("", store, settings)


@router.put("/folders/settings", tags=["folders"])
def set_root_settings(
    change: FolderChange, store: Store, settings: AppSettings, actor: Actor
) -> dict[str, Any]:
    """Set the library root's settings; they apply wherever no folder below says otherwise."""
    return set_folder_settings("", change, store, settings, actor)


@router.get("/folders/{path:path}/settings", tags=["folders"])
def folder_settings(path: str, store: Store, settings: AppSettings) -> dict[str, Any]:
    """Per media type: the folder's own setting, the effective value, and `inherited_from`
    (the folder it comes from; null: the library-wide default)."""
    with _http_errors():
        return curation.show_folder(store, settings, path)


@router.put("/folders/{path:path}/settings", tags=["folders"])
def set_folder_settings(
    path: str, change: FolderChange, store: Store, settings: AppSettings, actor: Actor
) -> dict[str, Any]:
    """Set `video` and/or `image` to enable, disable or inherit; answers as GET does."""
    with _http_errors():
        return curation.set_folder(store, settings, path, change.video, change.image, actor)
