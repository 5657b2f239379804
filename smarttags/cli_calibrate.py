"""`smarttags calibrate`: fit a model's confidence calibration on labelled examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from smarttags.cli_index import progress_bar
from smarttags.cli_support import EXIT_SETUP, EXIT_USAGE, AppContext, clean_errors, fail, pass_app


def _print_report(result: dict[str, Any]) -> None:
    before, after = result["before"], result["after"]
    click.echo(
        f"{result['model']}: {result['examples']} labelled examples "
        f"({result['positives']} present), {len(result['skipped'])} left out"
    )
    for name, q in (("before", before), ("after ", after)):
        click.echo(
            f"  {name}  center {q['center']:.3f}  scale {q['scale']:.3f}  "
            f"expected calibration error {q['ece']:.4f}  log loss {q['log_loss']:.4f}"
        )
    for line in result["skipped"][:10]:
        click.secho(f"  left out: {line}", fg="yellow")
    if len(result["skipped"]) > 10:
        click.secho(f"  ... and {len(result['skipped']) - 10} more", fg="yellow")
    click.echo(f"written to {result['file']}")
    click.echo(
        "stored confidences follow with `smarttags reindex --retag` (no decoding; it also "
        "learns the per-tag thresholds again); the next `index` re-scores changed files"
    )
    if result["overridden"]:
        click.secho(
            f"note: tag_calibration[{result['model']!r}] is configured explicitly "
            "(environment or TOML), and wins over the fitted value: remove it to use the fit",
            fg="yellow",
        )


@click.command("calibrate")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of path,tag,present rows (paths relative to the library root, or absolute).",
)
@click.option(
    "--from-curation",
    is_flag=True,
    help="Use curation as labels: removed machine tags are absent; promoted ones, and manual "
    "ones the machine proposed, present.",
)
@click.option("--model", help="The model to calibrate (default SMARTTAGS_MODEL).")
@click.option(
    "--library-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="What relative CSV paths are relative to (default: the library folder).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the reliability diagram, before and after, as a PNG (needs matplotlib).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
@clean_errors
def calibrate_cmd(
    app: AppContext,
    labels: Path | None,
    from_curation: bool,
    model: str | None,
    library_root: Path | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Fit the calibration (center and scale of the logistic over robust z-scores) of a
    model on labelled examples, print the expected calibration error before and after, and
    write the fit to <data dir>/calibration.json, which the settings read.

    Embeddings come from the cache; files without are decoded and encoded once.

    \b
    Examples:
      smarttags calibrate --labels labels.csv --plot reliability.png
      smarttags calibrate --from-curation --json
    """
    from indexer.calibration_fit import (
        CalibrationError,
        curation_labels,
        fit,
        model_key,
        plot_reliability,
        read_labels,
        score_labels,
        write_calibration,
    )
    from indexer.engine import TaggingEngine
    from indexer.ffmpeg_tools import FfmpegNotFound
    from indexer.model_errors import ModelUnavailable

    if (labels is None) == (not from_curation):
        raise click.UsageError("give either --labels FILE.csv or --from-curation")
    settings = app.settings if model is None else app.settings.model_copy(update={"model": model})
    problems: list[str] = []
    if labels is not None:
        found, problems = read_labels(labels, library_root or settings.library_dir)
    else:
        store = app.open_store()
        try:
            found = curation_labels(store.iter_assets())
        finally:
            store.close()
    engine = TaggingEngine(settings)
    with progress_bar(Console(stderr=True), "embedding") as bar:
        job = bar.add_task("calibrate", total=None, current="loading the model")

        def report(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total, current="")

        try:
            engine.prepare(lambda what, done, total: bar.update(job, current=what))
            scored = score_labels(engine, found, report)
        except (ModelUnavailable, FfmpegNotFound) as exc:
            bar.stop()
            fail(str(exc), EXIT_SETUP)
    scored.skipped[:0] = problems
    try:
        fitted = fit(scored, settings)
        if plot is not None:
            plot_reliability(fitted, plot)
    except CalibrationError as exc:
        fail(str(exc), EXIT_USAGE)
    written = write_calibration(fitted, settings, "curation" if from_curation else str(labels))
    result = {
        **fitted.to_json(),
        "file": str(written),
        "plot": str(plot) if plot else None,
        "overridden": model_key(settings) in settings.explicit_calibration,
    }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print_report(result)
