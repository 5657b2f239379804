"""`smarttags review [accept|reject] | tag-thresholds`: verdicts on suggested tags, and the
thresholds they teach.

Exit codes as for moderation: 2 for an unknown asset or tag, 3 when the backend fails.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any

import click

from catalog.audit import ModerationAction
from catalog.tag_thresholds import refresh_all
from query import review
from smarttags.cli_curation import (
    _echo_json,
    _opened,
    _print_table,
    _segments,
    curation_errors,
    moderation_command,
)
from smarttags.cli_support import AppContext, clean_errors, pass_app


def _print_queue(queue: dict[str, Any], offset: int) -> None:
    if not queue["items"]:
        click.echo("nothing to review: no suggested tag on the assets tagged last")
        return
    shown = f"{offset + 1}-{offset + len(queue['items'])}"
    click.echo(f"{queue['total']} suggested tags, the most uncertain first; showing {shown}")
    header = ("asset", "tag", "kind", "confidence", "threshold", "segments", "path")
    rows = [
        (
            i["asset_id"],
            i["tag"],
            i["kind"],
            f"{i['confidence']:.2f}",
            f"{i['threshold']:.2f}",
            _segments(i["segments"]),
            i["path"],
        )
        for i in queue["items"]
    ]
    _print_table([header, *rows])
    click.echo("\nsmarttags review accept ASSET TAG  |  smarttags review reject ASSET TAG")


@click.group("review", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--limit", type=click.IntRange(min=1), help="Items (default 20).")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Items to skip.")
@click.option("--folder", help="Only assets in this folder and its subfolders.")
@click.pass_context
@clean_errors
@curation_errors
def review_group(
    ctx: click.Context, as_json: bool, limit: int | None, offset: int, folder: str | None
) -> None:
    """Suggested tags (stored machine candidates below their threshold) on the assets tagged
    last, the most uncertain first. Accept one (it becomes a manual tag) or reject one (it is
    removed): each verdict teaches the tag's threshold (see `smarttags tag-thresholds`).

    \b
    Examples:
      smarttags review --limit 50
      smarttags review accept 3f2a9c1e0b7d5a6c4e21 "golden retriever"
      smarttags review reject 3f2a9c1e0b7d5a6c4e21 beach
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    with _opened(app) as store:
        queue = review.review_queue(store, app.settings, limit, offset, folder)
    if as_json:
        _echo_json(queue)
    else:
        _print_queue(queue, offset)


review_group.add_command(
    moderation_command(
        ModerationAction.add, "Accept TAG on ASSET_ID: it becomes a manual tag.", "accept"
    )
)
review_group.add_command(
    moderation_command(
        ModerationAction.remove, "Reject TAG on ASSET_ID: it is removed from it.", "reject"
    )
)


def _print_thresholds(table: dict[str, Any]) -> None:
    defaults = "  ".join(f"{kind} {value:.2f}" for kind, value in table["defaults"].items())
    click.echo(f"kind thresholds: {defaults}")
    if not table["tags"]:
        click.echo("no tag has curation feedback yet")
        return
    header = ("tag", "kind", "threshold", "source", "positives", "negatives")
    rows = [
        (
            r["tag"],
            r["kind"],
            f"{r['threshold']:.4f}",
            r["source"],
            str(r["positives"]),
            str(r["negatives"]),
        )
        for r in table["tags"]
    ]
    _print_table([header, *rows])


@click.command("tag-thresholds")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option(
    "--recompute",
    is_flag=True,
    help="Learn every tag's threshold again from its evidence first (after a re-tag or a "
    "new calibration changed the confidences; `reindex` does it itself).",
)
@pass_app
@clean_errors
def tag_thresholds_cmd(app: AppContext, as_json: bool, recompute: bool) -> None:
    """Each tag with curation feedback: the confidence its machine tags need, its evidence
    (positives: promoted, or added where the machine suggested it; negatives: removed) and
    where the threshold comes from (`learned` once SMARTTAGS_TAG_FEEDBACK_MIN verdicts reach
    it, else its kind's `default`)."""
    with _opened(app) as store, ExitStack() as bars:
        if recompute:
            bar: Any = None

            def progress(done: int, total: int) -> None:
                nonlocal bar
                if bar is None:  # the number of tags is known once the assets are read
                    bar = bars.enter_context(
                        click.progressbar(length=total, label="learning", file=sys.stderr)
                    )
                bar.update(1)

            learned = refresh_all(store, app.settings, progress)
            click.echo(f"recomputed {len(learned)} tags with evidence", err=True)
        table = review.threshold_table(store, app.settings)
    if as_json:
        _echo_json(table)
    else:
        _print_thresholds(table)
