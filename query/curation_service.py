"""Tag moderation and folder settings as the CLI and the API show them (one place for both).

Errors are the catalog's: AssetNotFound, ModerationRefused (a ValueError, as are bad tag
names and folder paths) and WriteConflict; each front end maps them to its own codes.
"""

from __future__ import annotations

import logging
from typing import Any

from catalog.asset import Asset, normalize_folder, normalize_tag
from catalog.audit import AuditEntry, ModerationAction, folder_subject
from catalog.curation import AssetNotFound, Moderation, moderate, tag_state, undo_last
from catalog.folders import FolderPolicy, FolderSetting, Toggle, ancestors
from catalog.settings import Settings
from catalog.store import AssetStore, StoreError
from catalog.tag_thresholds import Thresholds, current_thresholds, refresh_tag
from query.service import tag_listing

log = logging.getLogger("smarttags.curation")


def parse_folder(path: str) -> str:
    """A folder named by a user: '.', '/' or '' is the library root; `..` is refused."""
    return normalize_folder(path)


def require_asset(store: AssetStore, asset_id: str) -> Asset:
    asset = store.get(asset_id)
    if asset is None:
        raise AssetNotFound(asset_id)
    return asset


def removed_rows(asset: Asset) -> list[dict[str, Any]]:
    """Removed tags, with what the machine said of them, so a user can restore them."""
    machine = {t.tag: t for t in asset.smart_tags}
    rows = []
    for name in sorted(asset.removed_tags):
        tag = machine.get(name)
        rows.append(
            {
                "tag": name,
                "kind": tag.kind.value if tag else None,
                "confidence": tag.confidence if tag else None,
                "segments": [list(s) for s in tag.segments] if tag else [],
            }
        )
    return rows


def tag_view(
    asset: Asset, settings: Settings, thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """All tags as search shows them, and the removed ones apart."""
    return {
        "asset_id": asset.id,
        "tags": tag_listing(asset, settings, thresholds=thresholds),
        "removed": removed_rows(asset),
    }


def asset_tags(store: AssetStore, asset_id: str, settings: Settings) -> dict[str, Any]:
    asset = require_asset(store, asset_id)
    return tag_view(asset, settings, current_thresholds(store, settings))


def _learn_from(store: AssetStore, settings: Settings, moderation: Moderation) -> None:
    """Recompute the moderated tag's threshold: a verdict on a machine candidate is evidence
    (catalog/tag_thresholds.py). The moderation itself is done and stays done when this fails:
    the next verdict, or `smarttags tag-thresholds --recompute`, learns it."""
    entry = moderation.entry
    if entry is None or not any(t.tag == entry.tag for t in moderation.asset.smart_tags):
        return  # no verdict changed: a name the machine never proposed here is no evidence
    try:
        refresh_tag(store, settings, entry.tag)
    except StoreError as exc:
        log.warning("the threshold of tag %r was not recomputed: %s", entry.tag, exc)


def audit_dict(entry: AuditEntry) -> dict[str, Any]:
    return entry.model_dump(mode="json")


def _result(
    store: AssetStore,
    moderation: Moderation,
    action: ModerationAction,
    tag: str,
    settings: Settings,
) -> dict[str, Any]:
    entry = moderation.entry
    if entry is None:
        before = after = tag_state(moderation.asset, tag)
    else:
        before, after = entry.before, entry.after
    return {
        "action": action.value,
        "tag": tag,
        "changed": entry is not None,
        "before": before.value,
        "after": after.value,
        "audit": audit_dict(entry) if entry else None,
        **tag_view(moderation.asset, settings, current_thresholds(store, settings)),
    }


def apply_moderation(
    store: AssetStore,
    settings: Settings,
    asset_id: str,
    action: ModerationAction,
    tag: str,
    actor: str,
) -> dict[str, Any]:
    """Remove, promote, add or restore one tag; the new listing and the audit entry."""
    name = normalize_tag(tag)
    done = moderate(
        store, asset_id, action, name, actor, settings.write_retries, settings.max_manual_tags
    )
    _learn_from(store, settings, done)
    return _result(store, done, action, name, settings)


def undo_moderation(
    store: AssetStore, settings: Settings, asset_id: str, actor: str
) -> dict[str, Any]:
    """Revert the asset's latest moderation that is not undone yet."""
    require_asset(store, asset_id)
    done = undo_last(store, asset_id, actor, settings.write_retries)
    assert done.entry is not None
    _learn_from(store, settings, done)
    return _result(store, done, ModerationAction.undo, done.entry.tag, settings)


def audit_entries(
    store: AssetStore, settings: Settings, asset_id: str, limit: int | None = None
) -> list[dict[str, Any]]:
    """The asset's moderation history, newest first (kept after the asset is deleted)."""
    limit = settings.audit_page_size if limit is None else limit
    if not 1 <= limit <= settings.max_result_window:
        raise ValueError(f"limit must be between 1 and {settings.max_result_window}")
    entries = store.audit_log(asset_id, limit=limit)
    if not entries:
        require_asset(store, asset_id)
    return [audit_dict(e) for e in entries]


def folder_policy(store: AssetStore, settings: Settings) -> FolderPolicy:
    return FolderPolicy(store.folder_settings(), settings.smart_tags_enabled_by_default)


def _folder_dict(policy: FolderPolicy, folder: str) -> dict[str, Any]:
    own = policy.get(folder)
    stored = own.model_dump(mode="json") if not own.is_default else {}
    return {
        **policy.describe(folder),
        "updated_at": stored.get("updated_at"),
        "updated_by": stored.get("updated_by"),
    }


def show_folder(store: AssetStore, settings: Settings, path: str) -> dict[str, Any]:
    """Own setting, effective value and the folder it comes from, per media type."""
    return _folder_dict(folder_policy(store, settings), parse_folder(path))


def set_folder(
    store: AssetStore,
    settings: Settings,
    path: str,
    video: Toggle | None,
    image: Toggle | None,
    actor: str,
) -> dict[str, Any]:
    """Change the given media types of one folder (None: unchanged); the result as shown."""
    if video is None and image is None:
        raise ValueError("nothing to change: give a video and/or an image setting")
    folder = parse_folder(path)
    own = folder_policy(store, settings).get(folder)
    changed = FolderSetting(
        folder=folder,
        video=own.video if video is None else video,
        image=own.image if image is None else image,
        updated_by=actor,
    )
    store.save_folder_setting(changed)
    for media in ("video", "image"):
        before, after = getattr(own, media), getattr(changed, media)
        if before is not after:
            entry = AuditEntry(
                asset_id=folder_subject(folder),
                action=ModerationAction.folder,
                tag=media,
                before=before,
                after=after,
                actor=actor,
            )
            store.add_audit(entry)
    return show_folder(store, settings, folder)


def folder_audit(
    store: AssetStore, settings: Settings, path: str, limit: int | None = None
) -> dict[str, Any]:
    """Who changed the folder's own settings, when, from what to what; newest first."""
    folder = parse_folder(path)
    limit = settings.audit_page_size if limit is None else limit
    entries = store.audit_log(folder_subject(folder), limit=limit)
    return {"folder": folder, "entries": [audit_dict(e) for e in entries]}


def list_folders(store: AssetStore, settings: Settings) -> list[dict[str, Any]]:
    """Every folder with an explicit setting, shown as `show_folder` shows one."""
    stored = store.folder_settings()
    policy = FolderPolicy(stored, settings.smart_tags_enabled_by_default)
    return [_folder_dict(policy, f) for f in sorted(s.folder for s in stored if not s.is_default)]


def _tree_order(folder: str) -> list[str]:
    """Parents before children, siblings by name: `a`, `a/b`, `a-2` (not `a`, `a-2`, `a/b`)."""
    return folder.split("/") if folder else []


def folder_tree(store: AssetStore, settings: Settings) -> dict[str, Any]:
    """Every folder that holds assets or has a setting, with its parents (the root first):
    assets directly in it and below it, and its settings as `show_folder` gives them."""
    limit = settings.max_tree_folders
    counts = store.folder_counts(limit + 1)
    truncated = len(counts) > limit
    if truncated:
        counts = dict(list(counts.items())[:limit])
    stored = store.folder_settings()
    policy = FolderPolicy(stored, settings.smart_tags_enabled_by_default)
    known = set(counts) | {s.folder for s in stored if not s.is_default}
    folders = {parent for folder in known for parent in ancestors(folder)}
    totals = dict.fromkeys(folders, 0)
    for folder, count in counts.items():
        for parent in ancestors(folder):
            totals[parent] += count
    return {
        "folders": [
            {
                "folder": folder,
                "assets": counts.get(folder, 0),
                "total": totals[folder],
                **{k: v for k, v in policy.describe(folder).items() if k != "folder"},
            }
            for folder in sorted(folders, key=_tree_order)
        ],
        "truncated": truncated,
    }
