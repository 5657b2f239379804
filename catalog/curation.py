"""Tag moderation as an overlay over machine tags, written with optimistic concurrency.

A tag name's curation state is exclusive: removed, manual, promoted, or none (the machine
tag shows as computed). Machine tags are rewritten by every (re)processing run; the overlay
lives in its own fields, and `save_processed` carries it over from the stored document at
the moment of writing, so a moderation that lands during a run is never lost.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from catalog.asset import Asset, TagKind, normalize_tag, utc_now
from catalog.audit import UNDOABLE, AuditEntry, ModerationAction, TagState
from catalog.store import AssetStore, StoreError
from catalog.vectors import VectorUpdate

OVERLAY_FIELDS = ("manual_tags", "promoted_tags", "removed_tags")
SUGGESTIONS = 3  # near tag names offered when a moderation names a tag the asset lacks
USER_METADATA = ("title", "description", "keywords")
_LISTS = {
    TagState.removed: "removed_tags",
    TagState.manual: "manual_tags",
    TagState.promoted: "promoted_tags",
}


class AssetNotFound(LookupError):
    def __init__(self, asset_id: str) -> None:
        super().__init__(f"no asset with id {asset_id!r}")


class ModerationRefused(ValueError):
    """The operation makes no sense for this asset and tag (the message says why)."""


class TagNotCarried(ValueError):
    """A moderation named a tag the asset does not carry: a bad request (HTTP 422, exit 2),
    not a refusal of the asset's state."""


class WriteConflict(StoreError):
    """An asset kept changing under every retry."""


def tag_state(asset: Asset, tag: str) -> TagState:
    for state, field in _LISTS.items():
        if tag in getattr(asset, field):
            return state
    return TagState.none


def with_state(asset: Asset, tag: str, state: TagState) -> Asset:
    update = {f: [t for t in getattr(asset, f) if t != tag] for f in _LISTS.values()}
    if state is not TagState.none:
        update[_LISTS[state]].append(tag)
    update["updated_at"] = utc_now()
    return asset.model_copy(update=update)


def update_asset(
    store: AssetStore,
    asset_id: str,
    change: Callable[[Asset | None], Asset | None],
    retries: int,
    vectors: VectorUpdate = None,
) -> Asset | None:
    """Read, change, write if nobody wrote meanwhile; else read again. `change` gets None for
    an absent asset and returns None to write nothing. `vectors`: what the write does to the
    asset's vectors (None: keeps them)."""
    extra = {"vectors": vectors} if vectors is not None else {}
    for _ in range(retries + 1):
        current = store.read(asset_id)
        new = change(current.asset if current else None)
        if new is None:
            return current.asset if current else None
        if store.replace(new, current.version if current else None, **extra):
            return new
    raise WriteConflict(
        f"asset {asset_id} changed under {retries + 1} attempts to update it; try again"
    )


def merge_overlay(processed: Asset, current: Asset | None, keep_custom: bool = True) -> Asset:
    """A freshly processed document, with the stored curation and edited metadata kept."""
    if current is None:
        return processed
    update: dict = {f: getattr(current, f) for f in OVERLAY_FIELDS}
    update.update({f: getattr(current, f) for f in USER_METADATA if getattr(current, f)})
    if keep_custom and processed.custom_tagged_at is None:  # this run applied no custom model
        custom = [t for t in current.smart_tags if t.kind is TagKind.custom]
        if custom:
            update["smart_tags"] = [*processed.smart_tags, *custom]
            update.update(
                custom_run=current.custom_run,
                custom_tagged_at=current.custom_tagged_at,
                custom_content_hash=current.custom_content_hash,
            )
    merged = processed.model_copy(update=update)
    return Asset.model_validate(merged.model_dump())  # re-sorts and dedupes smart tags


def save_processed(
    store: AssetStore,
    processed: Asset,
    retries: int,
    keep_custom: bool = True,
    vectors: VectorUpdate = None,
) -> Asset:
    """Write an indexer result over whatever is stored now, keeping its overlay (and its
    custom tags, unless `keep_custom` is False or the result brings its own), with the
    asset's new `vectors` (catalog/vectors.py; None keeps the stored ones)."""
    saved = update_asset(
        store,
        processed.id,
        lambda current: merge_overlay(processed, current, keep_custom),
        retries,
        vectors,
    )
    assert saved is not None
    return saved


def save_processed_many(
    store: AssetStore,
    processed: list[tuple[Asset, bool]],
    retries: int,
    vectors: dict[str, VectorUpdate] | None = None,
) -> None:
    """`save_processed` for many assets (each with its `keep_custom`, and its vectors in
    `vectors` by id), in one read and one compare-and-set write per round where the store
    offers batches (`read_many`, `replace_many`); the assets another writer changed
    meanwhile go round again."""
    vectors = vectors or {}
    read_many = getattr(store, "read_many", None)
    replace_many = getattr(store, "replace_many", None)
    if read_many is None or replace_many is None:
        for asset, keep_custom in processed:
            save_processed(store, asset, retries, keep_custom, vectors.get(asset.id))
        return
    pending = list(processed)
    for _ in range(retries + 1):
        current = read_many([asset.id for asset, _ in pending])
        merged = []
        for asset, keep_custom in pending:
            stored = current.get(asset.id)
            new = merge_overlay(asset, stored.asset if stored else None, keep_custom)
            merged.append((new, stored.version if stored else None))
        written = replace_many(merged, vectors) if vectors else replace_many(merged)
        pending = [item for item, ok in zip(pending, written, strict=True) if not ok]
        if not pending:
            return
    raise WriteConflict(
        f"{len(pending)} assets changed under {retries + 1} attempts to update them; try again"
    )


@dataclass(frozen=True)
class Moderation:
    asset: Asset
    entry: AuditEntry | None  # None: the tag was already in that state; nothing written


def carried_tags(asset: Asset) -> set[str]:
    """Every tag name the asset carries: machine tags at any confidence and curated names."""
    return {t.tag for t in asset.smart_tags}.union(*(getattr(asset, f) for f in _LISTS.values()))


def _require_carried(asset: Asset, action: ModerationAction, tag: str) -> None:
    """Only `add` may bring a new name: a typo elsewhere is refused with the near names."""
    carried = carried_tags(asset)
    if tag in carried:
        return
    near = difflib.get_close_matches(tag, sorted(carried), n=SUGGESTIONS, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
    raise TagNotCarried(
        f"asset {asset.id} has no tag {tag!r} to {action}{hint} (tag add introduces a new name)"
    )


def _check_room(asset: Asset, target: TagState, max_manual: int | None) -> None:
    if target is not TagState.manual or max_manual is None:
        return
    if len(asset.manual_tags) >= max_manual:
        raise ModerationRefused(
            f"asset {asset.id} has {len(asset.manual_tags)} manual tags, the most it may hold "
            f"(SMARTTAGS_MAX_MANUAL_TAGS={max_manual}); remove one first"
        )


def _target_state(asset: Asset, action: ModerationAction, tag: str) -> TagState:
    if action is ModerationAction.add:
        # adding a promoted tag keeps it promoted: promotion is the stronger statement
        return TagState.promoted if tag_state(asset, tag) is TagState.promoted else TagState.manual
    targets = {
        ModerationAction.remove: TagState.removed,
        ModerationAction.restore: TagState.none,
        ModerationAction.promote: TagState.promoted,
    }
    if action not in targets:
        raise ModerationRefused(f"{action} is not a direct tag operation")
    _require_carried(asset, action, tag)
    return targets[action]


def moderate(
    store: AssetStore,
    asset_id: str,
    action: ModerationAction,
    tag: str,
    actor: str,
    retries: int,
    max_manual: int | None = None,
) -> Moderation:
    """Remove, promote, add or restore one tag; recorded in the audit log when it changed.

    A tag that would become manual is refused when the asset holds `max_manual` already."""
    tag = normalize_tag(tag)
    seen: dict[str, TagState] = {}

    def change(asset: Asset | None) -> Asset | None:
        if asset is None:
            raise AssetNotFound(asset_id)
        before, after = tag_state(asset, tag), _target_state(asset, action, tag)
        seen.update(before=before, after=after)
        if before is after:
            return None
        _check_room(asset, after, max_manual)
        return with_state(asset, tag, after)

    saved = update_asset(store, asset_id, change, retries)
    assert saved is not None
    if seen["before"] is seen["after"]:
        return Moderation(saved, None)
    entry = AuditEntry(
        asset_id=asset_id,
        action=action,
        tag=tag,
        before=seen["before"],
        after=seen["after"],
        actor=actor,
    )
    store.add_audit(entry)
    return Moderation(saved, entry)


def undo_last(store: AssetStore, asset_id: str, actor: str, retries: int) -> Moderation:
    """Revert the asset's latest moderation that is not undone yet."""
    log = store.audit_log(asset_id, limit=10_000)
    undone = {e.undoes for e in log if e.undoes}
    target = next((e for e in log if e.action in UNDOABLE and e.id not in undone), None)
    if target is None:
        raise ModerationRefused(f"asset {asset_id} has no moderation left to undo")

    def change(asset: Asset | None) -> Asset | None:
        if asset is None:
            raise AssetNotFound(asset_id)
        if tag_state(asset, target.tag) is not target.after:
            raise ModerationRefused(
                f"tag {target.tag!r} changed since that {target.action} "
                f"({target.at:%Y-%m-%d %H:%M:%S}); set it directly instead"
            )
        return with_state(asset, target.tag, target.before)

    saved = update_asset(store, asset_id, change, retries)
    assert saved is not None
    entry = AuditEntry(
        asset_id=asset_id,
        action=ModerationAction.undo,
        tag=target.tag,
        before=target.after,
        after=target.before,
        actor=actor,
        undoes=target.id,
    )
    store.add_audit(entry)
    return Moderation(saved, entry)


@dataclass(frozen=True)
class MetadataEdit:
    asset: Asset
    entries: list[AuditEntry]  # one per field that changed; none: nothing written


def _audit_text(value: str | list[str], limit: int) -> str:
    text = ", ".join(value) if isinstance(value, list) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def edit_metadata(
    store: AssetStore,
    asset_id: str,
    changes: dict[str, Any],
    actor: str,
    retries: int,
    audit_chars: int,
) -> MetadataEdit:
    """Set the asset's title, description and/or keywords (`changes`, keys of USER_METADATA);
    each field that changed gets an audit entry with its text before and after."""
    unknown = set(changes) - set(USER_METADATA)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    seen: dict[str, tuple[Any, Any]] = {}

    def change(asset: Asset | None) -> Asset | None:
        if asset is None:
            raise AssetNotFound(asset_id)
        # validated whole: keywords are cleaned and deduplicated as on import
        edited = Asset.model_validate({**asset.model_dump(), **changes})
        seen.clear()
        for field in changes:
            before, after = getattr(asset, field), getattr(edited, field)
            if before != after:
                seen[field] = (before, after)
        if not seen:
            return None
        return edited.model_copy(update={"updated_at": utc_now()})

    saved = update_asset(store, asset_id, change, retries)
    assert saved is not None
    entries = [
        AuditEntry(
            asset_id=asset_id,
            action=ModerationAction.edit,
            tag=field,
            before=_audit_text(before, audit_chars),
            after=_audit_text(after, audit_chars),
            actor=actor,
        )
        for field, (before, after) in seen.items()
    ]
    for entry in entries:
        store.add_audit(entry)
    return MetadataEdit(saved, entries)
