"""`smarttags tags | tag ... | audit | folder ...`: tag moderation and folder settings.

Moderation is recorded in the audit log with the local user as actor (`user:<login>`).
Exit codes: 2 for an unknown asset, a bad tag or folder, or a refused moderation; 3 when the
backend fails or the asset kept changing under every retry (run the command again).
"""

from __future__ import annotations

import functools
import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from catalog.audit import ModerationAction
from catalog.curation import AssetNotFound, WriteConflict
from catalog.folders import Toggle
from catalog.store import AssetStore
from query import curation_service as curation
from smarttags.cli_support import (
    EXIT_BACKEND,
    EXIT_USAGE,
    AppContext,
    clean_errors,
    fail,
    pass_app,
    warn_if_empty,
)
from smarttags.formatting import spans

UNKNOWN_USER = "user:unknown"
STATE_LABELS = {"none": "not curated"}  # the others (removed, manual, promoted) read as is
TOGGLES = [t.value for t in Toggle]
TABLE_HEADER = (
    "tag",
    "kind",
    "source",
    "confidence",
    "weight",
    "effective",
    "suggested",
    "threshold",
    "segments",
)


def cli_actor() -> str:
    """The local user, as the audit log records a CLI moderation."""
    try:
        return f"user:{getpass.getuser()}"
    except (OSError, KeyError, ImportError):  # no login name in a bare container
        return UNKNOWN_USER


def curation_errors(command: Callable) -> Callable:
    """Moderation failures as one line and an exit code; the rest goes to clean_errors."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AssetNotFound as exc:
            fail(str(exc), EXIT_USAGE)
        except WriteConflict as exc:
            fail(str(exc), EXIT_BACKEND)
        except ValueError as exc:  # ModerationRefused, bad tag names, bad folder paths
            fail(str(exc), EXIT_USAGE)

    return wrapper


@contextmanager
def _opened(app: AppContext) -> Iterator[AssetStore]:
    store = app.open_store()
    try:
        yield store
    finally:
        store.close()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def _label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def _segments(segments: list[list[float]]) -> str:
    return spans(segments)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _print_tags(view: dict[str, Any]) -> None:
    if view["tags"]:
        _print_table(
            [
                TABLE_HEADER,
                *(
                    (
                        r["tag"],
                        r["kind"],
                        r["source"],
                        f"{r['confidence']:.2f}",
                        f"{r['weight']:.2f}",
                        "yes" if r["effective"] else "no",
                        "yes" if r["suggested"] else "no",
                        "-" if r["threshold"] is None else f"{r['threshold']:.2f}",
                        _segments(r["segments"]),
                    )
                    for r in view["tags"]
                ),
            ]
        )
    else:
        click.echo(f"asset {view['asset_id']} has no tags")
    if view["removed"]:
        click.echo(f"\nremoved (bring one back: smarttags tag restore {view['asset_id']} TAG):")
        for r in view["removed"]:
            machine = f"{r['kind']} {r['confidence']:.2f}" if r["kind"] else "no machine tag"
            click.echo(f"  {r['tag']}  ({machine})")


def _print_change(asset_id: str, result: dict[str, Any]) -> None:
    tag = result["tag"]
    if not result["changed"]:
        click.echo(f"unchanged: {tag!r} on {asset_id} is already {_label(result['after'])}")
        return
    click.echo(
        f"{result['action']} {tag!r} on {asset_id}: "
        f"{_label(result['before'])} → {_label(result['after'])}"
    )


@click.command("tags")
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
@clean_errors
@curation_errors
def tags_cmd(app: AppContext, asset_id: str, as_json: bool) -> None:
    """All tags of ASSET_ID as search shows them (strongest first), and the removed ones.

    Columns: kind, source (machine, manual, promoted), confidence, weight in the ranking,
    whether the tag is effective (a machine tag must reach its threshold), whether it is
    suggested (a stored machine candidate below its threshold: it does not count, and
    `smarttags review` offers it for a verdict), the threshold (its kind's, or its own
    learned one), segments.
    """
    with _opened(app) as store:
        try:
            view = curation.asset_tags(store, asset_id, app.settings)
        except AssetNotFound:
            warn_if_empty(store)
            raise
    if as_json:
        _echo_json(view)
    else:
        _print_tags(view)


@click.group("tag")
def tag_group() -> None:
    """Moderate one tag of an asset: remove, promote, add, restore, or undo the last change.

    Moderation is kept apart from machine tags: a removed tag stays removed when the asset is
    processed or tagged again, until it is restored.
    """


def moderation_command(
    action: ModerationAction, summary: str, name: str | None = None
) -> click.Command:
    """`tag ACTION ASSET_ID TAG` (or another `name` for the same moderation)."""

    @click.command(name or action.value, help=summary)
    @click.argument("asset_id")
    @click.argument("tag")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @pass_app
    @clean_errors
    @curation_errors
    def command(app: AppContext, asset_id: str, tag: str, as_json: bool) -> None:
        with _opened(app) as store:
            result = curation.apply_moderation(
                store, app.settings, asset_id, action, tag, cli_actor()
            )
        if as_json:
            _echo_json(result)
        else:
            _print_change(asset_id, result)

    return command


for _action, _summary in (
    (ModerationAction.remove, "Remove TAG from ASSET_ID (hidden from search until restored)."),
    (ModerationAction.promote, "Promote TAG of ASSET_ID: it ranks with the promote boost."),
    (ModerationAction.add, "Add TAG to ASSET_ID as a manual tag (weight 1.0)."),
    (ModerationAction.restore, "Drop any moderation of TAG: the machine tag shows as computed."),
):
    tag_group.add_command(moderation_command(_action, _summary))


@tag_group.command("undo")
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
@clean_errors
@curation_errors
def undo_cmd(app: AppContext, asset_id: str, as_json: bool) -> None:
    """Revert the latest moderation of ASSET_ID that is not undone yet."""
    with _opened(app) as store:
        result = curation.undo_moderation(store, app.settings, asset_id, cli_actor())
    if as_json:
        _echo_json(result)
    else:
        _print_change(asset_id, result)


@click.command("audit")
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--limit", type=click.IntRange(min=1), help="Entries (SMARTTAGS_AUDIT_PAGE_SIZE).")
@pass_app
@clean_errors
@curation_errors
def audit_cmd(app: AppContext, asset_id: str, as_json: bool, limit: int | None) -> None:
    """The moderation history of ASSET_ID, newest first: when, who, what, before → after."""
    with _opened(app) as store:
        entries = curation.audit_entries(store, app.settings, asset_id, limit)
    if as_json:
        _echo_json(entries)
        return
    if not entries:
        click.echo(f"no moderation recorded for {asset_id}")
    for e in entries:
        undoes = f"  (undoes {e['undoes']})" if e["undoes"] else ""
        click.echo(
            f"{e['at']}  {e['actor']}  {e['action']} {e['tag']!r}: "
            f"{_label(e['before'])} → {_label(e['after'])}  [{e['id']}]{undoes}"
        )


def _source(shown: dict[str, Any], folder: str) -> str:
    source = shown["inherited_from"]
    if source is None:
        return "library default"
    if source == folder:
        return "set here"
    return f"inherited from {source or 'the library root'!r}"


def _print_folder(shown: dict[str, Any]) -> None:
    folder = shown["folder"]
    click.echo(f"folder: {folder or '(library root)'}")
    for media in ("video", "image"):
        own = shown[media]
        click.echo(
            f"  {media}: {own['setting']:8s} effective {own['effective']} ({_source(own, folder)})"
        )
    if shown["updated_by"]:
        click.echo(f"  set by {shown['updated_by']} at {shown['updated_at']}")


@click.group("folder")
def folder_group() -> None:
    """Per-folder smart tagging, for videos and images apart: enable, disable or inherit.

    A folder inherits from its parents up to the library root ('.'); where none says
    otherwise the library default applies (SMARTTAGS_SMART_TAGS_ENABLED_BY_DEFAULT).
    """


@folder_group.command("show")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
@clean_errors
@curation_errors
def folder_show_cmd(app: AppContext, path: str, as_json: bool) -> None:
    """The own setting of PATH, the effective value and where it comes from, per media type.

    PATH is relative to the library root; '.' is the root itself.
    """
    with _opened(app) as store:
        shown = curation.show_folder(store, app.settings, path)
    if as_json:
        _echo_json(shown)
    else:
        _print_folder(shown)


@folder_group.command("set")
@click.argument("path")
@click.option("--video", type=click.Choice(TOGGLES), help="Smart tags for videos.")
@click.option("--image", type=click.Choice(TOGGLES), help="Smart tags for images.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
@clean_errors
@curation_errors
def folder_set_cmd(
    app: AppContext, path: str, video: str | None, image: str | None, as_json: bool
) -> None:
    """Set smart tagging of PATH ('.' is the library root); prints the result as `show` does.

    It applies to the folder and to its subfolders that do not set their own value.
    """
    if video is None and image is None:
        raise click.UsageError("give --video and/or --image (enable, disable or inherit)")
    with _opened(app) as store:
        shown = curation.set_folder(
            store,
            app.settings,
            path,
            Toggle(video) if video else None,
            Toggle(image) if image else None,
            cli_actor(),
        )
    if as_json:
        _echo_json(shown)
    else:
        _print_folder(shown)


@folder_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
@clean_errors
@curation_errors
def folder_list_cmd(app: AppContext, as_json: bool) -> None:
    """Every folder with an explicit setting."""
    with _opened(app) as store:
        folders = curation.list_folders(store, app.settings)
    if as_json:
        _echo_json(folders)
        return
    if not folders:
        click.echo("no folder has its own setting; the library default applies everywhere")
    for shown in folders:
        _print_folder(shown)
