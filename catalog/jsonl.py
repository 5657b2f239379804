"""Bulk metadata in and out as JSON Lines: one asset document per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from pydantic import ValidationError

from catalog.asset import Asset
from catalog.store import AssetStore

IMPORT_BATCH = 1000


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    skipped: list[LineError] = field(default_factory=list)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "line"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_line(text: str) -> Asset:
    """One JSON Lines row as an asset; ValueError with a readable reason otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("a line must be a JSON object")
    try:
        return Asset.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from None


def read_lines(stream: IO[str], report: ImportReport) -> Iterator[Asset]:
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield parse_line(text)
        except ValueError as exc:
            report.skipped.append(LineError(number, str(exc)))


def import_jsonl(
    store: AssetStore, stream: IO[str], batch: int = IMPORT_BATCH, progress=None
) -> ImportReport:
    report = ImportReport()
    pending: list[Asset] = []
    for asset in read_lines(stream, report):
        pending.append(asset)
        if len(pending) >= batch:
            report.imported += store.upsert_many(pending)
            if progress:
                progress(len(pending))
            pending = []
    if pending:
        report.imported += store.upsert_many(pending)
        if progress:
            progress(len(pending))
    return report


def export_lines(assets: Iterable[Asset]) -> Iterator[str]:
    for asset in assets:
        yield json.dumps(asset.to_json_dict(), ensure_ascii=False) + "\n"
