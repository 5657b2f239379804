"""Versioned training runs on disk: each run's record, report and classifiers, newest last.

A run lives at ``data_dir/training/runs/run-NNNN/``: ``run.json`` (started, finished, scope,
counts, errors, model id, the report rows) and ``classifiers.npz`` (one linear classifier per
trained tag, written by indexer/classifiers.py). A run's folder is claimed with an atomic
``mkdir``, so two runs never share an id, and ``run.json`` is written last, atomically: a
folder without it is a run that never finished and is ignored. The latest run is the one with
the highest id.

Light on purpose (stdlib only): the API reads reports without loading any model.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog.settings import Settings

RUN_FILE = "run.json"
CLASSIFIERS_FILE = "classifiers.npz"
_RUN_NAME = re.compile(r"^run-(\d+)$")
_ID_DIGITS = 4


class TagStatus:
    trained = "trained"
    needs_more = "needs more examples"
    not_trained = "not trained"


@dataclass
class TagReport:
    """One report row; the field names are the report's JSON keys."""

    tag: str
    positives: int
    negatives: int
    small_images: int
    precision: float | None
    recall: float | None
    f1: float | None
    threshold: float | None
    coherence: float | None
    status: str


Progress = Callable[[int, int, str], None]
Clock = Callable[[], datetime]


def quiet(done: int, total: int, current: str) -> None:
    """A progress callback that reports nowhere."""


@dataclass
class RunRecord:
    """What every training or tagging run leaves behind."""

    run: str
    started: str
    finished: str | None = None
    state: str = "running"  # running | done | failed
    message: str | None = None
    folder: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def recorded(record: RunRecord, save: Callable[[], None], now: Clock) -> Iterator[None]:
    """Mark `record` done or failed (with the error) and finished, and save it, whatever
    happens inside."""
    try:
        yield
        record.state = "done"
    except BaseException as exc:
        record.state, record.message = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        record.finished = now().isoformat()
        save()


@dataclass
class TrainingRecord(RunRecord):
    tags_requested: list[str] = field(default_factory=list)
    model_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    tags: list[TagReport] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecord:
        rows = [TagReport(**row) for row in data.get("tags", [])]
        return cls(**{**data, "tags": rows})


def runs_root(settings: Settings) -> Path:
    return settings.data_dir / "training" / "runs"


def claim_run(settings: Settings) -> tuple[str, Path]:
    """A fresh run id and its (new, empty) folder."""
    return claim_numbered(runs_root(settings))


def claim_numbered(folder: Path, suffix: str = "") -> tuple[str, Path]:
    """The next free `run-NNNN`, created atomically under `folder` so that concurrent runs
    never share one: a folder, or with a `suffix` (".json") an empty file."""
    folder.mkdir(parents=True, exist_ok=True)
    number = max((_number(p.name.removesuffix(suffix)) for p in folder.iterdir()), default=0)
    while True:
        number += 1
        run_id = f"run-{number:0{_ID_DIGITS}d}"
        path = folder / f"{run_id}{suffix}"
        try:
            if suffix:
                path.open("x").close()
            else:
                path.mkdir()
            return run_id, path
        except FileExistsError:  # another run claimed it first
            continue


def save_record(settings: Settings, record: TrainingRecord) -> None:
    write_json_atomic(runs_root(settings) / record.run / RUN_FILE, record.to_dict())


def list_runs(settings: Settings) -> list[TrainingRecord]:
    """Every finished or failed run, oldest first."""
    root = runs_root(settings)
    if not root.is_dir():
        return []
    records = []
    for folder in numbered(list(root.iterdir())):
        record = _read_record(folder / RUN_FILE)
        if record is not None:
            records.append(record)
    return records


def latest_run(settings: Settings) -> TrainingRecord | None:
    """The newest run that finished (a failed run has no report to show)."""
    done = [r for r in list_runs(settings) if r.state == "done"]
    return done[-1] if done else None


def _read_record(path: Path) -> TrainingRecord | None:
    try:
        return TrainingRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def numbered(paths: list[Path], suffix: str = "") -> list[Path]:
    """The `run-NNNN` entries among `paths`, oldest first."""
    found = [p for p in paths if _number(p.name.removesuffix(suffix))]
    return sorted(found, key=lambda p: _number(p.name.removesuffix(suffix)))


def _number(name: str) -> int:
    match = _RUN_NAME.match(name)
    return int(match.group(1)) if match else 0


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
