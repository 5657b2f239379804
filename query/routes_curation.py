"""Tag moderation, its audit log, and per-folder smart-tag settings over HTTP.

Reads need the reader role, changes the editor role (query/auth.py); the audit log records
who wrote. Folder paths are library-relative (`campaigns/summer`); the library root is
`/folders/settings` (and `.` as a path, `/folders/./settings`, where a client keeps dot
segments).

Errors: 404 unknown asset, 422 bad input, 409 a moderation the asset's state refuses (nothing
to promote or undo, too many manual tags) or an asset that kept changing under every retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from starlette.convertors import Convertor, register_url_convertor

from catalog.asset import FOLDER_PATTERN, MAX_TAG_CHARS, TAG_PATTERN
from catalog.audit import ModerationAction
from catalog.curation import AssetNotFound, ModerationRefused, WriteConflict
from catalog.folders import Toggle
from catalog.keys import Role
from catalog.settings import Settings
from query import curation_service as curation
from query.auth import Actor, role_router
from query.deps import SettingsDep, StoreDep
from query.errors import errors
from query.routes_assets import AssetId
from query.schemas import (
    AuditLog,
    FolderAudit,
    FolderList,
    FolderTree,
    FolderView,
    ModerationResult,
    TagView,
)


class _AnyPath(Convertor[str]):
    """Starlette's `path` is `.*`, which stops at a newline: such a path would match no route
    (a 404 that no operation declares) instead of being refused with 422 by the route."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", _AnyPath())

read = role_router(Role.reader)
edit = role_router(Role.editor)
routers = [read, edit]
_MAX_AUDIT = Settings.model_fields["max_result_window"].default

FolderPath = Annotated[
    str,
    Path(description="library-relative folder", json_schema_extra={"pattern": FOLDER_PATTERN}),
]
TagPath = Annotated[
    str,
    Path(
        description="a tag name",
        max_length=MAX_TAG_CHARS,
        json_schema_extra={"pattern": TAG_PATTERN},
    ),
]
AuditLimit = Annotated[
    int | None,
    Query(ge=1, le=_MAX_AUDIT, description="entries (default SMARTTAGS_AUDIT_PAGE_SIZE)"),
]


@contextmanager
def _http_errors() -> Iterator[None]:
    """Catalog errors as HTTP codes; WriteConflict before the app's StoreError -> 503."""
    try:
        yield
    except AssetNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (WriteConflict, ModerationRefused) as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:  # bad tag names, bad folder paths
        raise HTTPException(422, str(exc)) from None


class TagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["remove", "promote", "add", "restore"]
    tag: str = Field(max_length=MAX_TAG_CHARS, json_schema_extra={"pattern": TAG_PATTERN})


class FolderChange(BaseModel):
    """Missing keys keep their current value; at least one is needed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    video: Toggle | SkipJsonSchema[None] = None
    image: Toggle | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _something_to_change(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data:
                raise ValueError("nothing to change: give a video and/or an image setting")
            if any(value is None for value in data.values()):
                raise ValueError("a setting is inherit, enable or disable (not null)")
        return data


@read.get("/assets/{asset_id}/tags", tags=["tags"], response_model=TagView, responses=errors(404))
def list_tags(asset_id: AssetId, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """All tags as search shows them (strongest first), and the removed tags apart."""
    with _http_errors():
        return curation.asset_tags(store, asset_id, settings)


@edit.post(
    "/assets/{asset_id}/tags",
    tags=["tags"],
    response_model=ModerationResult,
    responses=errors(404, 409, 413, 422),
)
def change_tag(
    asset_id: AssetId, change: TagChange, store: StoreDep, settings: SettingsDep, actor: Actor
) -> dict[str, Any]:
    """Remove, promote, add (manual, weight 1.0) or restore one tag.

    Answers the state before and after, `changed` (false when the tag already was so), the
    audit entry, and the new tag listing."""
    with _http_errors():
        return curation.apply_moderation(
            store, settings, asset_id, ModerationAction(change.action), change.tag, actor
        )


@edit.post(
    "/assets/{asset_id}/tags/undo",
    tags=["tags"],
    response_model=ModerationResult,
    responses=errors(404, 409),
)
def undo_tag_change(
    asset_id: AssetId, store: StoreDep, settings: SettingsDep, actor: Actor
) -> dict[str, Any]:
    """Revert the asset's latest moderation that is not undone yet (409 when none is left)."""
    with _http_errors():
        return curation.undo_moderation(store, settings, asset_id, actor)


@edit.delete(
    "/assets/{asset_id}/tags/{tag:anypath}",
    tags=["tags"],
    response_model=ModerationResult,
    responses=errors(404, 409, 422),
)
def remove_tag(
    asset_id: AssetId, tag: TagPath, store: StoreDep, settings: SettingsDep, actor: Actor
) -> dict[str, Any]:
    """Remove one tag (as POST with action `remove`); restore it to bring it back."""
    with _http_errors():
        return curation.apply_moderation(
            store, settings, asset_id, ModerationAction.remove, tag, actor
        )


@read.get("/assets/{asset_id}/audit", tags=["tags"], response_model=AuditLog, responses=errors(404))
def audit_log(
    asset_id: AssetId, store: StoreDep, settings: SettingsDep, limit: AuditLimit = None
) -> dict[str, Any]:
    """The asset's moderation history, newest first: when, what, before/after, by whom."""
    with _http_errors():
        entries = curation.audit_entries(store, settings, asset_id, limit)
    return {"asset_id": asset_id, "entries": entries}


@read.get("/folders", tags=["folders"], response_model=FolderList)
def list_folders(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Every folder with an explicit setting, with its effective values."""
    return {"folders": curation.list_folders(store, settings)}


@read.get("/folders/tree", tags=["folders"], response_model=FolderTree)
def folder_tree(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """The library's folders (those holding assets, those with a setting, and their
    parents; the root '' first), each with its asset counts and, per media type, its own
    setting, the effective value and the folder that value comes from."""
    return curation.folder_tree(store, settings)


@read.get("/folders/settings", tags=["folders"], response_model=FolderView)
def root_settings(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """The library root's settings (`folder` is '')."""
    return curation.show_folder(store, settings, "")


@edit.put(
    "/folders/settings",
    tags=["folders"],
    response_model=FolderView,
    responses=errors(413, 422),
)
def set_root_settings(
    change: FolderChange, store: StoreDep, settings: SettingsDep, actor: Actor
) -> dict[str, Any]:
    """Set the library root's settings; they apply wherever no folder below says otherwise."""
    return curation.set_folder(store, settings, "", change.video, change.image, actor)


@read.get("/folders/audit", tags=["folders"], response_model=FolderAudit)
def root_audit(store: StoreDep, settings: SettingsDep, limit: AuditLimit = None) -> dict[str, Any]:
    """Changes of the library root's settings, newest first: when, what, by whom."""
    return curation.folder_audit(store, settings, "", limit)


@read.get(
    "/folders/{path:anypath}/settings",
    tags=["folders"],
    response_model=FolderView,
    responses=errors(422),
)
def folder_settings(path: FolderPath, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Per media type: the folder's own setting, the effective value, and `inherited_from`
    (the folder it comes from; null: the library-wide default)."""
    with _http_errors():
        return curation.show_folder(store, settings, path)


@edit.put(
    "/folders/{path:anypath}/settings",
    tags=["folders"],
    response_model=FolderView,
    responses=errors(413, 422),
)
def set_folder_settings(
    path: FolderPath, change: FolderChange, store: StoreDep, settings: SettingsDep, actor: Actor
) -> dict[str, Any]:
    """Set `video` and/or `image` to enable, disable or inherit; answers as GET does. Each
    change is written to the folder's audit log."""
    with _http_errors():
        return curation.set_folder(store, settings, path, change.video, change.image, actor)


@read.get(
    "/folders/{path:anypath}/audit",
    tags=["folders"],
    response_model=FolderAudit,
    responses=errors(422),
)
def folder_audit(
    path: FolderPath, store: StoreDep, settings: SettingsDep, limit: AuditLimit = None
) -> dict[str, Any]:
    """Changes of the folder's own settings, newest first: when, what, by whom."""
    with _http_errors():
        return curation.folder_audit(store, settings, path, limit)
