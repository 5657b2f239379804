"""`smarttags reindex`: reprocess catalogued assets, or rebuild the search index itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from smarttags.cli_index import print_summary, progress_bar
from smarttags.cli_support import EXIT_PARTIAL, EXIT_SETUP, AppContext, clean_errors, fail, pass_app


def _rebuild(app: AppContext, drop_old: bool, rebuild: bool, as_json: bool) -> None:
    store = app.open_store()
    result: dict = {}
    try:
        if rebuild:
            with progress_bar(Console(stderr=True), "rebuilding") as bar:
                job = bar.add_task("rebuild", total=None, current="")

                def report(done: int, total: int) -> None:
                    bar.update(job, completed=done, total=total)

                report_ = store.rebuild_index(report)
            result = dict(report_.__dict__)
        if drop_old:
            result["dropped"] = store.drop_old_indices()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result))
        return
    if rebuild:
        old = ", ".join(result["old"]) or "-"
        click.echo(
            f"rebuilt {result['new']} from {result['documents']} documents "
            f"(caught up {result['caught_up']} written meanwhile); previous: {old}"
        )
        if result.get("backup"):
            click.echo(f"backup written first: {result['backup']}")
        if result["old"] and not drop_old:
            click.echo("the previous index is kept; remove it with `smarttags reindex --drop-old`")
    if drop_old:
        click.echo(f"dropped: {', '.join(result['dropped']) or 'nothing to drop'}")


@click.command("reindex")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--folder", help="Only assets in this catalog folder and its subfolders.")
@click.option("--asset", "asset_ids", multiple=True, help="Only this asset id (repeatable).")
@click.option("--full", "mode", flag_value="full", help="Probe, decode and encode the files again.")
@click.option(
    "--retag",
    "mode",
    flag_value="retag",
    default=True,
    help="Re-score cached embeddings without decoding (default).",
)
@click.option(
    "--library-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the files live, when not where they were indexed from.",
)
@click.option(
    "--rebuild-index",
    is_flag=True,
    help="Rebuild the search index from the stored documents (searches keep answering).",
)
@click.option("--drop-old", is_flag=True, help="Delete indices left by earlier rebuilds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List the skipped files too.")
@pass_app
@clean_errors
def reindex_cmd(
    app: AppContext,
    paths: tuple[Path, ...],
    folder: str | None,
    asset_ids: tuple[str, ...],
    mode: str,
    library_root: Path | None,
    rebuild_index: bool,
    drop_old: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Reprocess assets already catalogued (all, or PATHS, --folder or --asset).

    --retag (default) re-scores cached frame embeddings with the current vocabularies,
    thresholds and custom models, without decoding; an asset with no cached embeddings is
    decoded. --full decodes and encodes again. Both keep moderation (removed, promoted and
    manual tags) and edited metadata.

    --rebuild-index rebuilds the search index from the stored documents instead: on
    OpenSearch a new versioned index is filled and the alias swapped atomically (the old
    index is kept until --drop-old); on SQLite a backup is written, then the index tables are
    rebuilt in one transaction.
    """
    if rebuild_index or drop_old:
        if paths or folder or asset_ids:
            raise click.UsageError("--rebuild-index and --drop-old take no selection")
        _rebuild(app, drop_old, rebuild_index, as_json)
        return
    if sum(bool(x) for x in (paths, folder, asset_ids)) > 1:
        raise click.UsageError("choose one of PATHS, --folder or --asset")
    _reprocess(app, paths, folder, asset_ids, mode, library_root, as_json, verbose)


def _reprocess(app, paths, folder, asset_ids, mode, library_root, as_json, verbose) -> None:
    from indexer.engine import TaggingEngine
    from indexer.ffmpeg_tools import FfmpegNotFound
    from indexer.model_errors import ModelUnavailable
    from indexer.reprocess import Mode, Reprocess, Selection, SelectionError
    from indexer.scan import ScanError

    settings = app.settings
    selection = Selection(list(paths), folder, list(asset_ids), library_root)
    store = app.open_store()
    try:
        with progress_bar(Console(stderr=True), f"reindex --{mode}") as bar:
            job = bar.add_task("reindex", total=None, current="loading the model")

            def report(done: int, total: int, current: str) -> None:
                bar.update(job, completed=done, total=total, current=current)

            run = Reprocess(settings, store, TaggingEngine(settings), Mode(mode), report)
            summary = run.run(selection)
    except (SelectionError, ScanError) as exc:
        raise click.UsageError(str(exc)) from None
    except (ModelUnavailable, FfmpegNotFound) as exc:
        fail(str(exc), EXIT_SETUP)
    finally:
        store.close()
    result = summary.to_dict()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        print_summary(result, verbose)
    if summary.failed:
        sys.exit(EXIT_PARTIAL)
