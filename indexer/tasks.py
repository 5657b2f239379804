"""The worker's tasks: what each kind of job does, registered on the queue by `smarttags worker`.

Kinds and their params (what the API submits):
- `index`: {"paths": [paths relative to the library root]} -- uploads to tag;
- `reprocess`: {"mode": "retag"|"full", "folder": str|None, "asset_ids": [...]};
- `train`: {"folder": str, "tags": [...]};
- `autotag`: {"folder": str, "force": bool, "scheduled": bool}.

One worker process loads the model once (on its first job that needs it) and shares it
between its jobs; the store is opened once too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from catalog.queue import Handler, Progress
from catalog.settings import Settings
from catalog.store import AssetStore
from indexer.engine import TaggingEngine

StoreGetter = Callable[[], AssetStore]


class WorkerTasks:
    def __init__(self, settings: Settings, get_store: StoreGetter) -> None:
        self.settings = settings
        self._get_store = get_store
        self._engine: TaggingEngine | None = None
        self._lock = threading.Lock()

    def engine(self) -> TaggingEngine:
        with self._lock:
            if self._engine is None:
                engine = TaggingEngine(self.settings)
                engine.prepare()
                self._engine = engine
            return self._engine

    def handlers(self) -> dict[str, Handler]:
        return {
            "index": self.index,
            "reprocess": self.reprocess,
            "train": self.train,
            "autotag": self.autotag,
        }

    def index(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        from indexer.pipeline import IndexRun
        from indexer.scan import scan

        root = self.settings.library_dir
        tasks = scan([root / rel for rel in params.get("paths", [])], root)
        progress(0, len(tasks), None)
        run = IndexRun(
            self.settings, self._get_store(), self.engine(), reprocess=True, progress=progress
        )
        return run.run(tasks).to_dict()

    def reprocess(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        from indexer.reprocess import Mode, Reprocess, Selection

        selection = Selection(folder=params.get("folder"), asset_ids=params.get("asset_ids", []))
        mode = Mode(params.get("mode", Mode.retag))
        run = Reprocess(self.settings, self._get_store(), self.engine(), mode, progress)
        return run.run(selection).to_dict()

    def train(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        from indexer.training import train

        record = train(
            self.settings,
            self._get_store(),
            self.engine(),
            params.get("folder", ""),
            params.get("tags", []),
            progress,
        )
        return {**record.to_dict(), "assets": _failed_rows(record.errors)}

    def autotag(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        from indexer.autotag import autotag

        record = autotag(
            self.settings,
            self._get_store(),
            self.engine(),
            params.get("folder", ""),
            bool(params.get("force", False)),
            bool(params.get("scheduled", False)),
            progress,
        )
        return {**record.to_dict(), "assets": _failed_rows(record.errors)}


def _failed_rows(errors: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Per-asset training/tagging errors as the job's `assets` rows (see error_rows)."""
    return [{"path": e["path"], "status": "failed", "reason": e["reason"]} for e in errors]
