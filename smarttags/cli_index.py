"""`smarttags index`: tag files and folders, with a progress bar and a summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smarttags.cli_support import EXIT_PARTIAL, EXIT_SETUP, AppContext, clean_errors, fail, pass_app


def progress_bar(console: Console, label: str = "indexing") -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=console,
        transient=False,
    )


def print_summary(summary: dict, verbose: bool = False) -> None:
    """One line of counts; then the failed files one by one (and the skipped ones when
    `verbose`): a skip is expected (catalog-only assets, files that are not media), a
    failure needs a look."""

    def counts(group: dict) -> str:
        detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(group.items()))
        return f"{sum(group.values())}" + (f" ({detail})" if detail else "")

    catalogued = summary.get("catalogued", 0)
    from_cache = summary.get("from_cache", 0)
    cache_note = f" ({from_cache} from cached embeddings)" if from_cache else ""
    tagged = f"{summary['tagged']}{cache_note}"
    click.echo(
        f"tagged {tagged}, unchanged {summary['unchanged']}, "
        + (f"catalogued without smart tags {catalogued}, " if catalogued else "")
        + f"skipped {counts(summary['skipped'])}, failed {counts(summary['failed'])}"
    )
    listed = ("skipped", "failed") if verbose else ("failed",)
    for row in summary["assets"]:
        if row["status"] in listed:
            click.echo(f"  {row['status']:8s} {row['path']}: {row['reason']}")
    if summary["skipped"] and not verbose:
        click.echo("  (--verbose lists the skipped files; --json lists every file)")


@click.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--library-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that asset paths are relative to (default: each PATH folder).",
)
@click.option("--reprocess", is_flag=True, help="Process files again even when unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List the skipped files too.")
@pass_app
@clean_errors
def index_cmd(
    app: AppContext,
    paths: tuple[Path, ...],
    library_root: Path | None,
    reprocess: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Tag the videos and images under PATHS (folders are scanned recursively).

    Incremental: an unchanged file with the same model and settings is not processed again,
    and a run that was killed resumes where it stopped. Exit code 1 when a file failed.
    """
    from indexer.engine import TaggingEngine
    from indexer.ffmpeg_tools import FfmpegNotFound
    from indexer.model_errors import ModelUnavailable
    from indexer.pipeline import IndexRun
    from indexer.scan import ScanError, scan

    settings = app.settings
    try:
        tasks = scan(paths, library_root, skip=[settings.data_dir])
    except ScanError as exc:
        raise click.UsageError(str(exc)) from None
    store = app.open_store()
    console = Console(stderr=True)
    with progress_bar(console) as bar:
        job = bar.add_task("index", total=len(tasks), current="loading the model")

        def report(done: int, total: int, current: str) -> None:
            bar.update(job, completed=done, total=total, current=current)

        def preparing(what: str, done: int, total: int) -> None:
            # the first run exports the model and embeds the vocabularies: show that first
            bar.update(job, completed=done, total=total or None, current=what)

        try:
            run = IndexRun(
                settings, store, TaggingEngine(settings), reprocess, report, preparing=preparing
            )
            summary = run.run(tasks)
        except (ModelUnavailable, FfmpegNotFound) as exc:
            bar.stop()
            store.close()
            fail(str(exc), EXIT_SETUP)
    store.close()
    result = summary.to_dict()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        print_summary(result, verbose)
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


@click.command("sample-library")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@pass_app
@clean_errors
def sample_library_cmd(app: AppContext, folder: Path) -> None:
    """Write a small library of generated videos and images (and one broken file) to FOLDER."""
    from indexer.samples import make_sample_library

    made = make_sample_library(folder, app.settings.ffmpeg_binary)
    click.echo(f"wrote {len(made)} files under {folder}")
