"""The review queue and the thresholds as the CLI and the API show them (one place for both).

The queue lists suggested tags (machine candidates below their threshold, not curated) on the
assets tagged last (`review_recent_assets`), the most uncertain first: the smallest distance
below the tag's own threshold, so a verdict there moves the threshold the most. Accepting one
(`add`) makes it a manual tag, rejecting one (`remove`) removes it: the moderation routes and
commands, which record the verdict and recompute the tag's learned threshold.
"""

from __future__ import annotations

from typing import Any

from catalog.asset import Asset, normalize_folder
from catalog.settings import Settings
from catalog.store import AssetStore
from catalog.tag_thresholds import Thresholds, current_thresholds, kind_thresholds


def _suggestions(asset: Asset, thresholds: Thresholds) -> list[dict[str, Any]]:
    curated = {*asset.removed_tags, *asset.manual_tags, *asset.promoted_tags}
    items = []
    for tag in asset.smart_tags:
        threshold = thresholds.of(tag.tag, tag.kind.value)
        if tag.tag in curated or tag.confidence >= threshold:
            continue
        items.append(
            {
                "asset_id": asset.id,
                "path": asset.path,
                "title": asset.title,
                "media_type": asset.media_type.value,
                "tag": tag.tag,
                "kind": tag.kind.value,
                "confidence": tag.confidence,
                "threshold": threshold,
                "segments": [list(s) for s in tag.segments],
            }
        )
    return items


def review_queue(
    store: AssetStore,
    settings: Settings,
    limit: int | None = None,
    offset: int = 0,
    folder: str | None = None,
) -> dict[str, Any]:
    """One page of the queue and its length. Raises ValueError for a bad page or folder."""
    limit = settings.default_page_size if limit is None else limit
    if not 1 <= limit <= settings.max_page_size:
        raise ValueError(f"limit must be between 1 and {settings.max_page_size}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    thresholds = current_thresholds(store, settings)
    assets = store.recently_tagged(settings.review_recent_assets, normalize_folder(folder))
    items: list[tuple[tuple, dict[str, Any]]] = []
    for recency, asset in enumerate(assets):  # newest first
        for item in _suggestions(asset, thresholds):
            margin = item["threshold"] - item["confidence"]
            items.append(((margin, recency, item["asset_id"], item["tag"]), item))
    items.sort(key=lambda pair: pair[0])
    return {"items": [item for _, item in items[offset : offset + limit]], "total": len(items)}


def threshold_table(store: AssetStore, settings: Settings) -> dict[str, Any]:
    """Each tag with curation feedback: its threshold, its evidence, where the value comes
    from (`learned`, or its kind's `default` while the evidence is short); the kinds'."""
    defaults = kind_thresholds(settings)
    rows = []
    for record in store.tag_thresholds():
        learned = record.threshold is not None
        rows.append(
            {
                "tag": record.tag,
                "kind": record.kind.value,
                "threshold": record.threshold if learned else defaults[record.kind.value],
                "source": "learned" if learned else "default",
                "positives": record.positives,
                "negatives": record.negatives,
                "updated_at": record.updated_at.isoformat().replace("+00:00", "Z"),
            }
        )
    return {"tags": sorted(rows, key=lambda r: r["tag"]), "defaults": defaults}
