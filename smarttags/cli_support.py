"""What every CLI command shares: settings from global options, store opening, clean errors."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from catalog.settings import Settings
from catalog.store import AssetStore, BackendUnavailable, StoreError
from catalog.stores import open_store
from query.plan import InvalidQuery

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_SETUP = 4  # the model or ffmpeg is not available
# Libraries that log each failed request as a warning with its traceback. Our errors say what
# failed and how to fix it in one line; theirs would repeat it as a stack, once per request.
NOISY_LOGGERS = ("opensearch", "urllib3")


def quiet_library_logs() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


class AppContext:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings(**self.overrides)
        return self._settings

    def open_store(self) -> AssetStore:
        return open_store(self.settings)

    def global_args(self) -> list[str]:
        """The global options given, as arguments for a child `smarttags` process."""
        args: list[str] = []
        for name in ("data_dir", "backend", "opensearch_url"):
            if name in self.overrides:
                args += [f"--{name.replace('_', '-')}", str(self.overrides[name])]
        return args


pass_app = click.make_pass_decorator(AppContext)


def fail(message: str, code: int) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def clean_errors(command: Callable) -> Callable:
    """Turn known failures into one readable line and an exit code (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InvalidQuery as exc:
            fail(str(exc), EXIT_USAGE)
        except (BackendUnavailable, StoreError) as exc:
            fail(str(exc), EXIT_BACKEND)
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}", EXIT_USAGE)

    return wrapper


def global_options(group: Callable) -> Callable:
    options = [
        click.option(
            "--data-dir", type=click.Path(path_type=Path), help="Data folder (SMARTTAGS_DATA_DIR)."
        ),
        click.option(
            "--backend",
            type=click.Choice(["sqlite", "opensearch"]),
            help="Store backend (default: opensearch when a URL is set, else sqlite).",
        ),
        click.option("--opensearch-url", help="OpenSearch URL (SMARTTAGS_OPENSEARCH_URL)."),
    ]
    for option in reversed(options):
        group = option(group)
    return group


def empty_store_note(store: AssetStore) -> str | None:
    """When the store holds no asset: which store was read, and how to read another."""
    if store.count():
        return None
    stats = store.stats()
    return (
        f"the {stats.backend} store at {stats.location} holds no assets. Read another with "
        "--data-dir DIR (or SMARTTAGS_DATA_DIR=DIR); add assets with `smarttags index FOLDER` "
        "or `smarttags import FILE.jsonl`"
    )


def warn_if_empty(store: AssetStore) -> None:
    note = empty_store_note(store)
    if note:
        click.secho(f"note: {note}", fg="yellow", err=True)
