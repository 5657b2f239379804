"""The training report of a run, as a table (rich), JSON, CSV or an Excel workbook."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, BinaryIO

from rich import box
from rich.console import Console
from rich.table import Table

from catalog.training_runs import TagReport, TagStatus, TrainingRecord

COLUMNS = [f.name for f in fields(TagReport)]
# short headers: the ten columns fit an 80-column terminal
_HEADERS = {
    "positives": "pos",
    "negatives": "neg",
    "small_images": "small",
    "precision": "prec",
    "threshold": "thresh",
    "coherence": "coher",
}
_TEXT_MIN_WIDTH = 11  # "not trained" on one line
_STATUS_STYLE = {
    TagStatus.trained: "green",
    TagStatus.needs_more: "yellow",
    TagStatus.not_trained: "red",
}


def report_dict(record: TrainingRecord) -> dict[str, Any]:
    """`{"tags": [rows], "run", "started", "finished", ...}`; the JSON and API form."""
    data = record.to_dict()
    return {"tags": data.pop("tags"), **data}


def to_json(record: TrainingRecord) -> str:
    return json.dumps(report_dict(record), ensure_ascii=False, indent=2)


def to_csv(record: TrainingRecord) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in record.tags:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()


def write_xlsx(record: TrainingRecord, path: Path | BinaryIO) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "tags"
    sheet.append(COLUMNS)
    for row in record.tags:
        sheet.append([getattr(row, name) for name in COLUMNS])
    about = book.create_sheet("run")
    for key in ("run", "started", "finished", "folder", "model_id"):
        about.append([key, getattr(record, key)])
    for key, value in record.counts.items():
        about.append([key, value])
    book.save(path)


def xlsx_bytes(record: TrainingRecord) -> bytes:
    out = io.BytesIO()
    write_xlsx(record, out)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def table(record: TrainingRecord) -> Table:
    grid = Table(
        title=f"training {record.run} ({record.finished or 'unfinished'})",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
    )
    for name in COLUMNS:
        text = name in ("tag", "status")
        grid.add_column(
            _HEADERS.get(name, name),
            justify="left" if text else "right",
            no_wrap=not text,
            min_width=_TEXT_MIN_WIDTH if text else None,
        )
    for row in record.tags:
        cells = [_cell(getattr(row, name)) for name in COLUMNS]
        style = _STATUS_STYLE.get(row.status)
        cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
        grid.add_row(*cells)
    return grid


def print_table(record: TrainingRecord, console: Console) -> None:
    console.print(table(record))
    counts = ", ".join(f"{k} {v}" for k, v in record.counts.items())
    if counts:
        console.print(counts)
    for error in record.errors:
        console.print(f"  error {error['path']}: {error['reason']}", markup=False)
