"""Reprocessing what the catalog already holds.

`retag` scores the cached frame embeddings again (new vocabularies, calibration, storage floor
or custom models) without touching the media files; an asset without cached embeddings falls
back to full processing. `full` probes, decodes and encodes every selected file again. Both
write through `save_processed`, so moderation and edited metadata are kept, and then learn the
per-tag thresholds again from the new confidences (catalog/tag_thresholds.py). Thresholds
themselves need no reprocessing: they apply at query time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from catalog.asset import Asset, AssetStatus, normalize_folder, utc_now
from catalog.curation import save_processed
from catalog.folders import FolderPolicy
from catalog.settings import Settings
from catalog.store import AssetStore
from catalog.tag_thresholds import refresh_all
from indexer.custom_tags import CustomTagger
from indexer.engine import TaggingEngine
from indexer.pipeline import (
    DISABLED_REASON,
    IndexRun,
    IndexSummary,
    Outcome,
    Progress,
    with_custom_tags,
)
from indexer.scan import FileTask, scan


class Mode(StrEnum):
    retag = "retag"
    full = "full"


class SelectionError(ValueError):
    """The selection names nothing that can be reprocessed (the message says why)."""


@dataclass
class Selection:
    """What to reprocess: files under `paths`, a catalog folder, asset ids; empty: everything."""

    paths: list[Path] = field(default_factory=list)
    folder: str | None = None
    asset_ids: list[str] = field(default_factory=list)
    library_root: Path | None = None  # overrides where the catalog says files live


def _selected_assets(store: AssetStore, selection: Selection) -> Iterable[Asset]:
    if selection.asset_ids:
        for asset_id in selection.asset_ids:
            asset = store.get(asset_id)
            if asset is None:
                raise SelectionError(f"no asset with id {asset_id!r}")
            yield asset
        return
    yield from store.iter_assets(normalize_folder(selection.folder))


def _file_of(asset: Asset, settings: Settings, override: Path | None) -> Path:
    root = override or (Path(asset.library_root) if asset.library_root else settings.library_dir)
    return root / asset.path


def _task_for(asset: Asset, settings: Settings, override: Path | None) -> FileTask:
    path = _file_of(asset, settings, override)
    return FileTask(path, asset.path, asset.id, path.parents[len(Path(asset.path).parts) - 1])


class Reprocess:
    def __init__(
        self,
        settings: Settings,
        store: AssetStore,
        engine: TaggingEngine,
        mode: Mode = Mode.retag,
        progress: Progress | None = None,
    ) -> None:
        self.settings, self.store, self.engine, self.mode = settings, store, engine, mode
        self.progress = progress or (lambda done, total, current: None)
        self.policy = FolderPolicy([], settings.smart_tags_enabled_by_default)
        self.custom: CustomTagger | None = None

    def run(self, selection: Selection) -> IndexSummary:
        """Raises SelectionError when `selection` names something that is not there."""
        tasks = self._tasks(selection)
        summary = IndexSummary()
        self.engine.prepare()
        self.custom = CustomTagger.latest(self.settings, self.engine.model_id)
        self.policy = FolderPolicy(
            self.store.folder_settings(), self.settings.smart_tags_enabled_by_default
        )
        to_decode: list[FileTask] = []
        for done, (task, asset) in enumerate(tasks):
            self.progress(done, len(tasks), task.rel)
            outcome = None if asset is None else self._from_cache(asset, task)
            if outcome is None and not task.path.is_file():
                outcome = self._no_file(task, asset)
            if outcome is None:
                to_decode.append(task)
            else:
                summary.add(outcome)
        if to_decode:
            self._decode(to_decode, summary, len(tasks))
        if summary.tagged:  # the evidence of the learned thresholds has new confidences
            refresh_all(self.store, self.settings)
        self.progress(len(tasks), len(tasks), "")
        return summary

    def _tasks(self, selection: Selection) -> list[tuple[FileTask, Asset | None]]:
        if selection.paths:
            found = scan(selection.paths, selection.library_root, skip=[self.settings.data_dir])
            return [(t, self.store.get(t.asset_id)) for t in found]
        assets = _selected_assets(self.store, selection)
        return [(_task_for(a, self.settings, selection.library_root), a) for a in assets]

    def _from_cache(self, asset: Asset, task: FileTask) -> Outcome | None:
        """Re-tag from cached embeddings; None when the file must be decoded instead."""
        if self.mode is Mode.full or not asset.content_hash:
            return None
        effective = self.policy.effective(asset.folder, asset.media_type)
        if not effective.enabled:
            return None  # the pipeline records the opt-out with its reason
        cached = self.engine.cached_embeddings(asset.content_hash)
        if cached is None:
            return None
        frames, stamps = cached
        tags = self.engine.tag(frames, stamps, asset.duration_s, asset.media_type)
        fingerprint = self.engine.fingerprint(task.path) if task.path.exists() else None
        processed = asset.model_copy(
            update={
                "smart_tags": tags,
                "status": AssetStatus.tagged,
                "status_reason": None,
                "model_id": self.engine.model_id,
                "tagged_at": utc_now(),
                "updated_at": utc_now(),
                "fingerprint": fingerprint or asset.fingerprint,
            }
        )
        processed = with_custom_tags(processed, self.custom, frames, stamps)
        vectors = self.engine.vectors(frames, stamps, asset.duration_s, asset.media_type)
        save_processed(self.store, processed, self.settings.write_retries, vectors=vectors)
        return Outcome(asset.path, asset.id, "tagged", "from_cache")

    def _no_file(self, task: FileTask, asset: Asset | None) -> Outcome:
        """A catalog-only asset (imported metadata, never indexed) has nothing to re-tag; a
        file that was indexed and is gone is a failure. The stored record is left as is."""
        if self.mode is Mode.retag and asset is not None and not asset.content_hash:
            return Outcome(task.rel, task.asset_id, "skipped", "no_media_file")
        return Outcome(task.rel, task.asset_id, "failed", "missing_file")

    def _decode(self, tasks: list[FileTask], summary: IndexSummary, total: int) -> None:
        offset = total - len(tasks)

        def report(done: int, _: int, current: str) -> None:
            self.progress(offset + done, total, current)

        run = IndexRun(
            self.settings,
            self.store,
            self.engine,
            reprocess=True,
            progress=report,
            use_cache=self.mode is not Mode.full,
        )
        for outcome in run.run(tasks).assets:
            summary.add(outcome)


__all__ = ["DISABLED_REASON", "Mode", "Reprocess", "Selection", "SelectionError"]
