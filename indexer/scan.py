"""Which files an index run covers, and where each sits in the library."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from catalog.asset import asset_id_for_path


class ScanError(ValueError):
    """A path given to `index` cannot be used (the message says why)."""


@dataclass(frozen=True)
class FileTask:
    path: Path
    rel: str  # library-relative POSIX path, printable (undecodable bytes escaped)
    asset_id: str
    root: Path | None = None  # the library root `rel` is relative to


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
    """Files under `paths` (recursively, hidden entries skipped), sorted, each once."""
    skipped = {p.resolve() for p in skip}
    tasks: dict[str, FileTask] = {}
    for given in paths:
        if not given.exists():
            raise ScanError(f"{given}: no such file or folder")
        root = _library_root(given, library_root)
        files = _walk(given, skipped) if given.is_dir() else [given]
        for file in files:
            resolved = file.resolve()
            try:
                rel = resolved.relative_to(root).as_posix()
            except ValueError:
                raise ScanError(f"{file} is outside the library root {root}") from None
            rel = _safe(rel)
            tasks.setdefault(rel, FileTask(resolved, rel, asset_id_for_path(rel), root))
    return [tasks[k] for k in sorted(tasks)]


_LOW_SURROGATE, _HIGH_SURROGATE = "\udc80", "\udcff"


def _safe(rel: str) -> str:
    """A non-UTF-8 file name keeps its undecodable bytes visible as %XX instead of failing."""
    return "".join(
        f"%{ord(c) - 0xDC00:02X}" if _LOW_SURROGATE <= c <= _HIGH_SURROGATE else c for c in rel
    )
