"""`smarttags autotag`: apply the latest training run's classifiers to the library.

Which assets are tagged (in folders where smart tags are enabled): those never custom-tagged,
those whose content changed since (content hash differs from the one tagged), and unaltered
ones whose last custom tagging is older than retag_after_on_demand_h (on-demand runs) or
retag_after_scheduled_days (scheduled runs); `force` tags every one. The rest are counted as
unchanged. Each run leaves a record at ``data_dir/autotag/run-NNNN.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from catalog.asset import Asset, normalize_folder, utc_now
from catalog.curation import WriteConflict, update_asset
from catalog.settings import Settings
from catalog.store import AssetStore
from catalog.training_runs import (
    Clock,
    Progress,
    RunRecord,
    claim_numbered,
    numbered,
    quiet,
    recorded,
    write_json_atomic,
)
from indexer.custom_features import FeatureError, FeatureSource
from indexer.custom_scope import assets_in_scope
from indexer.custom_tags import CustomTagger, apply_custom_tags
from indexer.engine import TaggingEngine


class NoTrainedModel(RuntimeError):
    """There is no training run to tag with (the message says what to do)."""


@dataclass
class AutotagRecord(RunRecord):
    scheduled: bool = False
    force: bool = False
    training_run: str | None = None
    tagged: int = 0  # custom tags written (possibly none: nothing matched)
    unchanged: int = 0  # not due: unaltered and tagged recently enough
    skipped: int = 0  # smart tags disabled in its folder, never indexed, or changed meanwhile
    embedded: int = 0  # assets read and encoded because no embeddings were cached
    errors: list[dict[str, str]] = field(default_factory=list)


def retag_age(settings: Settings, scheduled: bool) -> timedelta:
    if scheduled:
        return timedelta(days=settings.retag_after_scheduled_days)
    return timedelta(hours=settings.retag_after_on_demand_h)


def is_due(asset: Asset, now: datetime, max_age: timedelta, force: bool = False) -> bool:
    if force or asset.custom_tagged_at is None:
        return True
    if asset.content_hash != asset.custom_content_hash:
        return True
    return now - asset.custom_tagged_at > max_age


def autotag(
    settings: Settings,
    store: AssetStore,
    engine: TaggingEngine,
    folder: str | None = "",
    force: bool = False,
    scheduled: bool = False,
    progress: Progress | None = None,
    now: Clock = utc_now,
) -> AutotagRecord:
    """Tag the due assets with the latest trained tags; raises NoTrainedModel before any run."""
    tagger = CustomTagger.latest(settings)
    if tagger is None:
        raise NoTrainedModel("no usable training run: run `smarttags train` first")
    if tagger.model_id != engine.model_id:
        raise NoTrainedModel(
            f"the latest training run ({tagger.run_id}) used model {tagger.model_id}, "
            f"but the configured model is {engine.model_id}: run `smarttags train` again"
        )
    run_id, path = claim_numbered(records_folder(settings), ".json")
    record = AutotagRecord(
        run=run_id,
        started=now().isoformat(),
        folder=normalize_folder(folder),
        scheduled=scheduled,
        force=force,
        training_run=tagger.run_id,
    )
    write_json_atomic(path, record.to_dict())
    tools = _Tools(tagger, FeatureSource(settings, engine))
    with recorded(record, lambda: write_json_atomic(path, record.to_dict()), now):
        _tag_scope(record, settings, store, tools, now, progress or quiet)
    return record


@dataclass
class _Tools:
    tagger: CustomTagger
    features: FeatureSource


def _tag_scope(
    record: AutotagRecord,
    settings: Settings,
    store: AssetStore,
    tools: _Tools,
    now: Clock,
    progress: Progress,
) -> None:
    scope = assets_in_scope(store, settings, record.folder)
    record.skipped = scope.skipped
    max_age = retag_age(settings, record.scheduled)
    total = len(scope.assets)
    for done, asset in enumerate(scope.assets):
        progress(done, total, asset.path)
        if not is_due(asset, now(), max_age, record.force):
            record.unchanged += 1
            continue
        try:
            if _tag_one(asset, settings, store, tools, now()):
                record.tagged += 1
            else:
                record.skipped += 1
        except (FeatureError, WriteConflict) as exc:
            record.errors.append({"id": asset.id, "path": asset.path, "reason": str(exc)})
    record.embedded = tools.features.embedded
    progress(total, total, "")


def _tag_one(
    asset: Asset, settings: Settings, store: AssetStore, tools: _Tools, when: datetime
) -> bool:
    """Tag and write one asset; False when it was deleted or re-indexed meanwhile."""
    frames, stamps = tools.features.frames(asset)
    tags = tools.tagger.tags(frames, stamps, asset.media_type, asset.duration_s)
    written: list[Asset] = []

    def change(current: Asset | None) -> Asset | None:
        # content changed under us (re-indexed meanwhile): these tags are stale; the next
        # run sees the new content as modified and tags it
        written.clear()
        if current is None or current.content_hash != asset.content_hash:
            return None
        written.append(apply_custom_tags(current, tags, tools.tagger.run_id, when))
        return written[0]

    update_asset(store, asset.id, change, settings.write_retries)
    return bool(written)


def records_folder(settings: Settings) -> Path:
    return settings.data_dir / "autotag"


def list_autotag_runs(settings: Settings) -> list[dict[str, Any]]:
    """Every autotag record, oldest first (one still running has finished = None)."""
    folder = records_folder(settings)
    if not folder.is_dir():
        return []
    records = []
    for path in numbered(list(folder.iterdir()), ".json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # claimed, not written yet
    return records
