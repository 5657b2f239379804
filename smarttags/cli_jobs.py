"""`smarttags jobs`: running and recent jobs (the records the API and workers share)."""

from __future__ import annotations

import json

import click

from catalog.jobs import JobRecord, JobState, open_job_store
from smarttags.cli_support import EXIT_USAGE, AppContext, clean_errors, fail, pass_app


def _line(record: JobRecord) -> str:
    progress = f"{record.done}/{record.total}" if record.total else "-"
    when = record.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    text = f"{record.id}  {record.kind:<10} {record.state.value:<8} {progress:>9}  {when}"
    if record.current:
        text += f"  now: {record.current}"
    if record.message:
        text += f"  ({record.message})"
    return text


def _show(record: JobRecord) -> None:
    click.echo(_line(record))
    if record.worker:
        click.echo(f"  worker: {record.worker} (attempt {record.attempt})")
    for error in record.errors:
        click.echo(f"  {error.get('status')}: {error.get('path')}: {error.get('reason')}")


@click.command("jobs")
@click.argument("job_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--limit", type=click.IntRange(min=1), help="How many (default 50).")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in JobState]),
    help="Only jobs in this state (repeatable).",
)
@pass_app
@clean_errors
def jobs_cmd(app: AppContext, job_id: str | None, as_json: bool, limit, states) -> None:
    """Running and recent jobs, newest first; with JOB_ID, that job with its errors."""
    jobs = open_job_store(app.settings)
    try:
        if job_id:
            record = jobs.get(job_id)
            if record is None:
                fail(f"no job with id {job_id!r}", EXIT_USAGE)
                return
            if as_json:
                click.echo(json.dumps(record.to_json()))
            else:
                _show(record)
            return
        wanted = tuple(JobState(s) for s in states)
        records = jobs.list(limit or app.settings.job_list_limit, wanted)
        where = jobs.check()
    finally:
        jobs.close()
    if as_json:
        click.echo(json.dumps({"jobs": [r.to_json() for r in records]}))
        return
    if not records:
        click.echo(f"no {'such ' if states else ''}jobs ({where})")
        return
    for record in records:
        _show(record)
