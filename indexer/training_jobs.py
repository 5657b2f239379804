"""Training and custom tagging as background jobs (indexer/jobs.py), for the API and `serve`.

Importing this module is light: the model, torch and scikit-learn load in the job's worker
thread. `get_store` gives the store the job works on; the job does not close it (the API's
store outlives every job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from catalog.settings import Settings
from catalog.store import AssetStore
from indexer.jobs import Job, JobWork

StoreGetter = Callable[[], AssetStore]


def error_rows(errors: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Per-asset errors in the form JobRunner lists as a job's errors."""
    return [{"path": e["path"], "status": "failed", "reason": e["reason"]} for e in errors]


def training_work(
    settings: Settings,
    get_store: StoreGetter,
    folder: str | None = "",
    tags: Iterable[str] | None = None,
) -> JobWork:
    wanted = list(tags or ())

    def work(job: Job, progress: Callable[[int, int, str], None]) -> dict[str, Any]:
        from indexer.engine import TaggingEngine
        from indexer.training import train

        record = train(settings, get_store(), TaggingEngine(settings), folder, wanted, progress)
        return {**record.to_dict(), "assets": error_rows(record.errors)}

    return work


def autotag_work(
    settings: Settings,
    get_store: StoreGetter,
    folder: str | None = "",
    force: bool = False,
    scheduled: bool = False,
) -> JobWork:
    def work(job: Job, progress: Callable[[int, int, str], None]) -> dict[str, Any]:
        from indexer.autotag import autotag
        from indexer.engine import TaggingEngine

        engine = TaggingEngine(settings)
        record = autotag(settings, get_store(), engine, folder, force, scheduled, progress)
        return {**record.to_dict(), "assets": error_rows(record.errors)}

    return work
