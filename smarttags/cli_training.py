"""`smarttags train`, `train-report` and `autotag`: custom tags learned from manual tags."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console

from smarttags.cli_index import progress_bar
from smarttags.cli_support import (
    EXIT_PARTIAL,
    EXIT_SETUP,
    EXIT_USAGE,
    AppContext,
    clean_errors,
    fail,
    pass_app,
)

T = TypeVar("T")
ProgressFn = Callable[[int, int, str], None]
REPORT_FORMATS = ("table", "json", "csv", "xlsx")
DEFAULT_XLSX = Path("training-report.xlsx")
_FILE_WIDTH = 160  # a table written to a file is not squeezed to a terminal's width


def _run_with_bar(label: str, run: Callable[[ProgressFn], T]) -> T:
    """Call run(progress) under a progress bar on stderr; setup failures exit cleanly."""
    from indexer.ffmpeg_tools import FfmpegNotFound
    from indexer.model_errors import ModelUnavailable

    with progress_bar(Console(stderr=True), label) as bar:
        task = bar.add_task(label, total=None, current="loading the model")

        def report(done: int, total: int, current: str) -> None:
            bar.update(task, completed=done, total=total, current=current)

        try:
            return run(report)
        except (ModelUnavailable, FfmpegNotFound) as exc:
            bar.stop()
            fail(str(exc), EXIT_SETUP)
            raise  # not reached: fail() exits


def _tag_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@click.command("train")
@click.option("--folder", default="", help="Train on assets under this folder (default: all).")
@click.option("--tags", "tags", help="Comma-separated tags to train (default: every manual tag).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
@clean_errors
def train_cmd(app: AppContext, folder: str, tags: str | None, as_json: bool) -> None:
    """Learn a classifier per tag from the assets tagged with it by hand (manual or promoted).

    Uses the cached embeddings (files without them are read once). Prints the training report;
    exit code 1 when an asset could not be read.
    """
    from indexer.engine import TaggingEngine
    from indexer.training import train
    from query.training_report import print_table, to_json

    settings = app.settings
    store = app.open_store()
    try:
        record = _run_with_bar(
            "training",
            lambda progress: train(
                settings, store, TaggingEngine(settings), folder, _tag_list(tags), progress
            ),
        )
    finally:
        store.close()
    if as_json:
        click.echo(to_json(record))
    else:
        print_table(record, Console())
    if record.errors:
        sys.exit(EXIT_PARTIAL)


@click.command("train-report")
@click.option(
    "--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Write to this file (xlsx default: {DEFAULT_XLSX}).",
)
@pass_app
@clean_errors
def train_report_cmd(app: AppContext, fmt: str, output: Path | None) -> None:
    """Show the report of the latest training run."""
    from catalog.training_runs import latest_run
    from query.training_report import print_table, to_csv, to_json, write_xlsx

    record = latest_run(app.settings)
    if record is None:
        fail("no training run yet: run `smarttags train` first", EXIT_USAGE)
        return
    if fmt == "xlsx":
        target = output or DEFAULT_XLSX
        write_xlsx(record, target)
        click.echo(f"wrote {target}")
        return
    if fmt == "table":
        if output is None:
            print_table(record, Console())
            return
        with output.open("w", encoding="utf-8") as handle:
            print_table(record, Console(file=handle, width=_FILE_WIDTH))
        return
    text = to_json(record) if fmt == "json" else to_csv(record)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=fmt == "json")


@click.command("autotag")
@click.option("--folder", default="", help="Tag assets under this folder (default: all).")
@click.option("--force", is_flag=True, help="Re-tag every asset, even unaltered recent ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
@clean_errors
def autotag_cmd(app: AppContext, folder: str, force: bool, as_json: bool) -> None:
    """Apply the latest trained custom tags to modified and not recently tagged assets.

    Unaltered assets are re-tagged once their last custom tagging is older than
    SMARTTAGS_RETAG_AFTER_ON_DEMAND_H hours. Exit code 1 when an asset could not be read.
    """
    from indexer.autotag import NoTrainedModel, autotag
    from indexer.engine import TaggingEngine

    settings = app.settings
    store = app.open_store()
    try:
        record = _run_with_bar(
            "tagging",
            lambda progress: autotag(
                settings, store, TaggingEngine(settings), folder, force, progress=progress
            ),
        )
    except NoTrainedModel as exc:
        fail(str(exc), EXIT_USAGE)
        return
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(record.to_dict(), ensure_ascii=False))
    else:
        click.echo(
            f"tagged {record.tagged}, unchanged {record.unchanged}, skipped {record.skipped}, "
            f"errors {len(record.errors)} (training {record.training_run})"
        )
        for error in record.errors:
            click.echo(f"  error {error['path']}: {error['reason']}")
    if record.errors:
        sys.exit(EXIT_PARTIAL)
