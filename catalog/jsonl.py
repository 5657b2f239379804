"""Bulk metadata in and out as JSON Lines: one asset document per line.

Import validates every line. Where the store can take prepared rows (`row_builder` and
`write_rows`, the SQLite store), chunks of lines are parsed, validated and analyzed in worker
processes while the calling process writes the previous chunks' rows in order, in large
transactions. Other stores get validated assets through `upsert_many`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

from pydantic import ValidationError

from catalog.asset import Asset
from catalog.store import AssetStore

IMPORT_BATCH = 1000  # assets per upsert_many call (stores without prepared rows)
IN_FLIGHT_PER_WORKER = 2  # chunks queued per worker process: enough to keep it busy

Progress = Callable[[int], None]  # assets written since the last call


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


def _explain_bad_line(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict):
        return "a line must be a JSON object"
    try:
        Asset.model_validate(data)
    except ValidationError as exc:
        return _reason(exc)
    return "not a valid asset"


def parse_line(text: str) -> Asset:
    """One JSON Lines row as an asset; ValueError with a readable reason otherwise."""
    try:
        return Asset.model_validate_json(text)  # one pass in pydantic's JSON parser
    except ValidationError:
        raise ValueError(_explain_bad_line(text)) from None


def read_lines(stream: Iterable[str], report: ImportReport) -> Iterator[Asset]:
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield parse_line(text)
        except ValueError as exc:
            report.skipped.append(LineError(number, str(exc)))


def parse_chunk(
    builder: Callable[[Asset], Any], first_line: int, lines: list[str]
) -> tuple[list[Any], list[LineError]]:
    """Rows of the valid lines of a chunk, and the bad lines (runs in worker processes)."""
    rows, errors = [], []
    for number, text in enumerate(lines, start=first_line):
        if not text.strip():
            continue
        try:
            rows.append(builder(parse_line(text)))
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
    return rows, errors


def _chunks(stream: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    lines = iter(stream)
    first = 1
    while chunk := list(islice(lines, size)):
        yield first, chunk
        first += len(chunk)


def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a copy of this one and its
    # open database connections
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(workers, mp_context=context)


def _import_rows(
    store: AssetStore,
    builder: Callable[[Asset], Any],
    stream: Iterable[str],
    workers: int,
    chunk_lines: int,
    progress: Progress | None,
) -> ImportReport:
    report = ImportReport()

    def take(rows: list[Any], errors: list[LineError]) -> None:
        report.skipped.extend(errors)
        report.imported += store.write_rows(rows)
        if progress:
            progress(len(rows))

    chunks = _chunks(stream, chunk_lines)
    first = next(chunks, None)
    if first is None:
        return report
    second = next(chunks, None)
    if second is None or workers < 1:  # small input: no processes to start
        for start, lines in filter(None, (first, second, *chunks)):
            take(*parse_chunk(builder, start, lines))
        return report
    with _pool(workers) as pool:
        pending: deque[Future] = deque()
        try:
            for start, lines in (first, second, *chunks):
                pending.append(pool.submit(parse_chunk, builder, start, lines))
                if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                    take(*pending.popleft().result())
            while pending:
                take(*pending.popleft().result())
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return report


def import_jsonl(
    store: AssetStore,
    stream: IO[str] | Iterable[str],
    batch: int = IMPORT_BATCH,
    progress: Progress | None = None,
    workers: int | None = None,
    chunk_lines: int | None = None,
) -> ImportReport:
    """Upsert the assets of `stream` in order (a later line with the same id wins).

    `workers`: parsing processes (default: the `import_workers` setting, else one per CPU;
    0 parses here)."""
    builder = store.row_builder()
    if builder is not None:
        settings = store.settings
        if workers is None:
            workers = settings.import_workers
        if workers is None:
            workers = os.cpu_count() or 1
        chunk_lines = chunk_lines or settings.import_chunk_lines
        return _import_rows(store, builder, stream, workers, chunk_lines, progress)
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
