"""Which files an index run covers, and where each sits in the library."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from catalog.asset import CONTROL, asset_id_for_path
from indexer.limits import OUTSIDE_LIBRARY, outside_library


class ScanError(ValueError):
    """A path given to `index` cannot be used (the message says why)."""


@dataclass(frozen=True)
class FileTask:
    path: Path
    rel: str  # library-relative POSIX path, printable (undecodable bytes escaped)
    asset_id: str
    root: Path | None = None  # the library root `rel` is relative to
    skip: str | None = None  # a reason not to open the file at all (e.g. outside_library)
    skip_detail: str = ""


def _library_root(path: Path, root: Path | None) -> Path:
    if root is not None:
        return root.resolve()
    return path.resolve() if path.is_dir() else path.resolve().parent


def _walk(folder: Path, skip: set[Path]) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip
        )
        for name in sorted(filenames):
            if not name.startswith("."):
                yield here / name


def scan(
    paths: Iterable[Path], library_root: Path | None, skip: Iterable[Path] = ()
) -> list[FileTask]:
    """Files under `paths` (recursively, hidden entries skipped), sorted, each once.

    A link found under a folder that leads out of the library is a task with `skip` set
    (outside_library): the run reports it and goes on, and nothing outside is opened."""
    skipped = {p.resolve() for p in skip}
    tasks: dict[str, FileTask] = {}
    for given in paths:
        if not given.exists():
            raise ScanError(f"{given}: no such file or folder")
        root = _library_root(given, library_root)
        files = _walk(given, skipped) if given.is_dir() else [given]
        for file in files:
            task = _task(file, root)
            tasks.setdefault(task.rel, task)
    return [tasks[k] for k in sorted(tasks)]


def _task(file: Path, root: Path) -> FileTask:
    resolved = file.resolve()
    if resolved.is_relative_to(root):
        rel = _safe(resolved.relative_to(root).as_posix())
        return FileTask(resolved, rel, asset_id_for_path(rel), root)
    # a link out of the library: its own place names it; where it leads is never opened
    for here in (file.parent.resolve() / file.name, Path(os.path.abspath(file))):
        if here.is_relative_to(root):
            rel = _safe(here.relative_to(root).as_posix())
            detail = outside_library(resolved, root)
            return FileTask(here, rel, asset_id_for_path(rel), root, OUTSIDE_LIBRARY, detail)
    raise ScanError(f"{file} is outside the library root {root}")


_LOW_SURROGATE, _HIGH_SURROGATE = "\udc80", "\udcff"
_CONTROL = re.compile(f"[{CONTROL}]")


def _safe(rel: str) -> str:
    """A non-UTF-8 file name keeps its undecodable bytes visible as %XX instead of failing;
    control characters (a newline in a file name) are shown as %XX too, never stored."""
    decoded = "".join(
        f"%{ord(c) - 0xDC00:02X}" if _LOW_SURROGATE <= c <= _HIGH_SURROGATE else c for c in rel
    )
    return _CONTROL.sub(lambda m: f"%{ord(m[0]):02X}", decoded)
