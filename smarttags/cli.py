"""The `smarttags` command line."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import IO

import click

from catalog.asset import MediaType, TagKind, normalize_folder
from catalog.jsonl import export_lines, import_jsonl
from query.plan import SearchMode, SearchRequest
from smarttags.cli_calibrate import calibrate_cmd
from smarttags.cli_curation import audit_cmd, folder_group, tag_group, tags_cmd
from smarttags.cli_index import index_cmd, sample_library_cmd
from smarttags.cli_jobs import jobs_cmd
from smarttags.cli_keys import keys_group
from smarttags.cli_reindex import reindex_cmd
from smarttags.cli_review import review_group, tag_thresholds_cmd
from smarttags.cli_support import (
    EXIT_PARTIAL,
    EXIT_USAGE,
    AppContext,
    clean_errors,
    fail,
    global_options,
    pass_app,
    quiet_library_logs,
    warn_if_empty,
)
from smarttags.cli_training import autotag_cmd, train_cmd, train_report_cmd
from smarttags.doctor import run_checks
from smarttags.formatting import query_words, span


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.version_option("0.1.0", prog_name="smarttags")
@click.pass_context
def cli(ctx: click.Context, data_dir, backend, opensearch_url) -> None:
    """Smart tags and Omnisearch for video and image libraries."""
    quiet_library_logs()
    ctx.obj = AppContext(
        {"data_dir": data_dir, "backend": backend, "opensearch_url": opensearch_url}
    )


class _CountingReader:
    """Feeds lines to the importer and the number of bytes read to a progress bar."""

    def __init__(self, stream: IO[str], bar) -> None:
        self.stream, self.bar = stream, bar

    def __iter__(self):
        for line in self.stream:
            self.bar.update(len(line.encode()))
            yield line


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@pass_app
@clean_errors
def import_cmd(app: AppContext, file: str) -> None:
    """Upsert assets from a JSON Lines FILE (one asset per line; '-' reads stdin).

    Bad lines are reported with their line number and skipped; the rest is imported.
    Exit code 1 when any line was skipped.
    """
    store = app.open_store()
    if file == "-":
        report = import_jsonl(store, sys.stdin)
    else:
        with (
            open(file, encoding="utf-8", errors="replace") as stream,
            click.progressbar(
                length=max(Path(file).stat().st_size, 1), label="importing", file=sys.stderr
            ) as bar,
        ):
            report = import_jsonl(store, _CountingReader(stream, bar))
    store.close()
    for err in report.skipped:
        click.secho(f"line {err.line}: skipped: {err.reason}", fg="yellow", err=True)
    click.echo(f"imported {report.imported} assets, skipped {len(report.skipped)} lines")
    if report.skipped:
        sys.exit(EXIT_PARTIAL)


@cli.command("export")
@click.option("--folder", help="Only this folder and its subfolders.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Output file (default stdout).",
)
@pass_app
@clean_errors
def export_cmd(app: AppContext, folder: str | None, output: str) -> None:
    """Write assets as JSON Lines that `smarttags import` reads back identically."""
    store = app.open_store()
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    with out:
        for line in export_lines(store.iter_assets(normalize_folder(folder))):
            out.write(line)
            count += 1
    store.close()
    click.echo(f"exported {count} assets", err=True)


def _print_hits(result: dict, text: str, example: str | None = None) -> None:
    shown = len(result["hits"])
    total = result["total"]
    count = f"{total['value']}{'+' if total['relation'] == 'gte' else ''}"  # a lower bound
    if example is not None:
        head = f"{count} results like {example}"
    elif text.strip():
        head = f'{count} results for "{text}" ({result["mode"]}; words: {query_words(text)})'
    else:
        head = f"{count} assets, newest first"
    click.echo(
        head + (f"; showing {result['offset'] + 1}-{result['offset'] + shown}" if shown else "")
    )
    for notice in result["notices"]:
        click.secho(f"note: {notice}", fg="yellow")
    for rank, hit in enumerate(result["hits"], start=result["offset"] + 1):
        tier = f"tier {hit['tier']}" if hit["tier"] else hit["media_type"]
        click.echo(
            f"{rank:4d}. [{tier}] {hit['id']}  {hit['title'] or '(untitled)'}  "
            f"({hit['path']})  score {hit['score']:g}"
        )
        tags = ", ".join(
            f"{m['tag']} {m['weight']:.2f} ({m['source']})" for m in hit["matched"]["tags"]
        )
        fields = ", ".join(hit["matched"]["metadata"])
        if fields or tags:
            click.echo(f"        matched: {fields or '-'}" + (f" | tags: {tags}" if tags else ""))
        if hit["similarity"] is not None:
            moments = ", ".join(
                f"{span(m['start_s'], m['end_s'])} ({m['score']:.2f})" for m in hit["moments"]
            )
            click.echo(
                f"        similarity {hit['similarity']:.3f}"
                + (f" | moments: {moments}" if moments else "")
            )


@cli.command("search")
@click.argument("query", default="")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in SearchMode]),
    help="hybrid: the term tiers, then assets similar in meaning (tier 4); keyword: the term "
    "tiers only; semantic: similarity alone (default SMARTTAGS_SEARCH_MODE, hybrid).",
)
@click.option("--like", "like", metavar="ASSET_ID", help="Assets similar to this asset.")
@click.option(
    "--like-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Assets similar to this picture.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--limit", type=int, help="Hits per page (default 20).")
@click.option("--offset", type=int, default=0, show_default=True, help="Hits to skip.")
@click.option("--folder", help="Only this folder and its subfolders.")
@click.option(
    "--type",
    "media_type",
    type=click.Choice([m.value for m in MediaType]),
    help="Only videos or only images.",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([k.value for k in TagKind]),
    help="Only tags of this kind match (repeatable); metadata is unaffected.",
)
@pass_app
@clean_errors
def search_cmd(
    app: AppContext,
    query: str,
    mode: str | None,
    like: str | None,
    like_file: Path | None,
    as_json: bool,
    limit,
    offset,
    folder,
    media_type,
    kinds,
) -> None:
    """Omnisearch QUERY over metadata, smart tags and what the pictures show (empty QUERY
    browses newest first); or the assets most like an asset (--like) or a picture
    (--like-file), with the moments of videos.

    \b
    Examples:
      smarttags search "woman running on a beach at sunset"
      smarttags search dog --mode keyword --type video
      smarttags search --like-file holiday.jpg --folder 2024
    """
    from smarttags.cli_semantic import run_search

    if sum(bool(x) for x in (query.strip(), like, like_file)) > 1:
        raise click.UsageError("give one of QUERY, --like or --like-file")
    if mode and (like or like_file):
        raise click.UsageError("--mode applies to a QUERY; --like and --like-file rank by meaning")
    request = SearchRequest(
        query,
        folder,
        MediaType(media_type) if media_type else None,
        tuple(TagKind(k) for k in kinds),
        limit,
        offset,
        SearchMode(mode) if mode else None,
    )
    result = run_search(app, request, like, like_file)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print_hits(result, query, like or (str(like_file) if like_file else None))


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
@clean_errors
def stats_cmd(app: AppContext, as_json: bool) -> None:
    """Counts of the catalog: assets by type and status, distinct smart tags, folders."""
    store = app.open_store()
    stats = store.stats()
    warn_if_empty(store)
    store.close()
    if as_json:
        click.echo(json.dumps(stats.__dict__))
        return
    click.echo(f"backend: {stats.backend} ({stats.location})")
    click.echo(
        f"assets: {stats.assets}  "
        + "  ".join(f"{k}: {v}" for k, v in sorted(stats.by_media_type.items()))
    )
    click.echo(
        "status: " + ("  ".join(f"{k}: {v}" for k, v in sorted(stats.by_status.items())) or "-")
    )
    click.echo(f"distinct smart tags: {stats.smart_tags}  folders: {stats.folders}")


@cli.command("doctor")
@pass_app
def doctor_cmd(app: AppContext) -> None:
    """Check what the configuration needs and say how to fix what is not right.

    Exit code of the first failed check: 2 settings or data dir, 3 backend or queue, 4 ffmpeg
    or the model.
    """
    first_failure = 0
    for check in run_checks(app.overrides):
        mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {check.name}: {check.detail}")
        if not check.ok:
            first_failure = first_failure or check.exit_code
            click.echo(f"     fix: {check.fix}")
    if first_failure:
        sys.exit(first_failure)


@cli.command("demo-model")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "name", default="ViT-B-32", show_default=True, help="open_clip model.")
@clean_errors
def demo_model_cmd(directory: Path, name: str) -> None:
    """Write a RANDOM-WEIGHT model (a demo aid: real architecture and speed, meaningless tags)
    into DIRECTORY and print the two settings that select it, for a machine that cannot
    download real weights.

    \b
    Example:
      eval "$(smarttags demo-model .data/demo-model)"   # then smarttags index ...
    """
    from indexer.random_model import write_random_model

    try:
        config, checkpoint = write_random_model(name, directory)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
        return
    click.secho(
        f"wrote a RANDOM-WEIGHT {name} to {directory}: its tags are meaningless; use real "
        "weights (SMARTTAGS_PRETRAINED) for real tags",
        fg="yellow",
        err=True,
    )
    click.echo(f"export SMARTTAGS_MODEL={shlex.quote(str(config.resolve()))}")
    click.echo(f"export SMARTTAGS_PRETRAINED={shlex.quote(str(checkpoint.resolve()))}")


@cli.command("serve")
@click.option("--host", help="Bind address (default 127.0.0.1, SMARTTAGS_API_HOST).")
@click.option("--port", type=int, help="Port (default 8000, SMARTTAGS_API_PORT).")
@click.option(
    "--with-worker",
    is_flag=True,
    help="Also run a worker process (uploads, reprocessing, training, schedule): the "
    "embedded default's one command.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Jobs the --with-worker worker runs at once (default SMARTTAGS_WORKER_CONCURRENCY).",
)
@click.option(
    "--allow-anonymous",
    is_flag=True,
    help="Serve a non-loopback address with no API key (anyone who reaches it may do "
    "everything).",
)
@pass_app
@clean_errors
def serve_cmd(
    app: AppContext,
    host: str | None,
    port: int | None,
    with_worker: bool,
    concurrency,
    allow_anonymous: bool,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs). It enqueues work; `smarttags worker`
    processes run it (or one beside the API with --with-worker).

    On an address other than loopback it needs an API key (`smarttags keys add`), or
    --allow-anonymous.

    \b
    Examples:
      smarttags serve --with-worker                 # one machine, embedded store and queue
      smarttags serve --host 0.0.0.0 --port 8000    # API only; workers run elsewhere
    """
    from smarttags.serve import Exposed, check_exposure, run_api, worker_beside

    settings = app.settings
    host, port = host or settings.api_host, port or settings.api_port
    try:
        warning = check_exposure(settings, host, allow_anonymous)
    except Exposed as exc:
        fail(str(exc), EXIT_USAGE)
        return
    if warning:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if not with_worker:
        run_api(settings, host, port, app.overrides)
        return
    workers = concurrency or settings.worker_concurrency
    with worker_beside(app.global_args(), workers, settings.worker_stop_timeout_s):
        run_api(settings, host, port, app.overrides)


@cli.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Jobs run at once (default 1, SMARTTAGS_WORKER_CONCURRENCY).",
)
@pass_app
@clean_errors
def worker_cmd(app: AppContext, concurrency: int | None) -> None:
    """Run jobs from the queue: indexing uploads, reprocessing, training, autotag, and the
    scheduled training and tagging (SMARTTAGS_SCHEDULE_ENABLED).

    The queue is SQLite under the data dir, or Redis when SMARTTAGS_REDIS_URL is set (then
    workers on several machines share it). SIGINT finishes the running jobs and stops;
    SIGTERM stops at once and queues the running jobs again.
    """
    import logging

    from smarttags.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_worker(app.settings, concurrency or app.settings.worker_concurrency)


cli.add_command(index_cmd)
cli.add_command(jobs_cmd)
cli.add_command(sample_library_cmd)
cli.add_command(reindex_cmd)
cli.add_command(tags_cmd)
cli.add_command(tag_group)
cli.add_command(audit_cmd)
cli.add_command(folder_group)
cli.add_command(train_cmd)
cli.add_command(train_report_cmd)
cli.add_command(autotag_cmd)
cli.add_command(keys_group)
cli.add_command(review_group)
cli.add_command(tag_thresholds_cmd)
cli.add_command(calibrate_cmd)


def main() -> None:
    cli(prog_name="smarttags")


if __name__ == "__main__":
    main()
