"""`smarttags doctor`: each check says what it found and how to fix it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from catalog.settings import Settings
from catalog.store import StoreError
from catalog.stores import open_store

# the exit code of a failed check, as the README lists them
EXIT_USAGE, EXIT_BACKEND, EXIT_SETUP = 2, 3, 4


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    exit_code: int = EXIT_USAGE  # what `doctor` exits with when this is the first failure


def check_data_dir(settings: Settings) -> Check:
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return Check(
            "data dir",
            False,
            f"{folder} is not writable ({exc.strerror})",
            "set SMARTTAGS_DATA_DIR (or --data-dir) to a writable folder",
            EXIT_USAGE,
        )
    return Check("data dir", True, f"{folder} is writable")


def check_backend(settings: Settings) -> Check:
    name = f"backend ({settings.effective_backend})"
    try:
        store = open_store(settings)
        try:
            detail = store.check()
            count = store.count()
        finally:
            store.close()
    except StoreError as exc:
        fix = (
            "start OpenSearch (docker compose -f docker/compose.yaml up -d) or check "
            "SMARTTAGS_OPENSEARCH_URL; unset it to use the embedded SQLite store"
            if settings.effective_backend == "opensearch"
            else "check SMARTTAGS_DATA_DIR; restore the database from its .bak copy"
        )
        return Check(name, False, str(exc), fix, EXIT_BACKEND)
    return Check(name, True, f"{detail}; {count} assets")


def check_queue(settings: Settings) -> Check:
    from catalog.queue import JobQueue

    queue = JobQueue(settings)
    try:
        waiting = queue.ping()
        workers = queue.live_workers()
    except StoreError as exc:
        fix = (
            "start Redis or check SMARTTAGS_REDIS_URL (unset it for the embedded SQLite queue)"
            if settings.redis_url
            else "check SMARTTAGS_DATA_DIR"
        )
        return Check("queue", False, str(exc), fix, EXIT_BACKEND)
    finally:
        queue.close()
    alive = (
        f"{len(workers)} worker(s) alive"
        if workers
        else "no worker alive: uploads and reprocessing wait until `smarttags worker` runs "
        "(or `smarttags serve --with-worker`)"
    )
    return Check("queue", True, f"{waiting}; {alive}")


def check_ffmpeg(settings: Settings) -> Check:
    import subprocess

    from indexer.ffmpeg_tools import FfmpegNotFound, find_ffmpeg, find_ffprobe

    try:
        binary = find_ffmpeg(settings.ffmpeg_binary)
        banner = subprocess.run(
            [binary, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=settings.ffmpeg_timeout_s,
        ).stdout
    except (FfmpegNotFound, OSError, subprocess.SubprocessError) as exc:
        return Check(
            "ffmpeg",
            False,
            str(exc),
            "pip install imageio-ffmpeg (bundles ffmpeg), or install ffmpeg, or set "
            "SMARTTAGS_FFMPEG_BINARY",
            EXIT_SETUP,
        )
    version = banner.splitlines()[0] if banner else "unknown version"
    probe = "ffprobe found" if find_ffprobe() else "no ffprobe (ffmpeg's report is parsed)"
    return Check("ffmpeg", True, f"{binary}: {version}; {probe}")


def check_model(settings: Settings) -> Check:
    name = f"model ({settings.model}, {settings.pretrained})"
    try:
        from indexer.encoder import describe_runtime
        from indexer.model_errors import ModelUnavailable, local_weights_help
    except ImportError as exc:
        return Check(
            name,
            False,
            f"the indexer is not installed ({exc.name} missing)",
            "pip install 'smarttags[indexer]'",
            EXIT_SETUP,
        )
    try:
        detail = describe_runtime(settings)
    except ModelUnavailable as exc:
        message, _, cause = str(exc).partition("; to go on")
        fix = f"to go on{cause}" if cause else local_weights_help(settings.model)
        return Check(name, False, message, fix, EXIT_SETUP)
    return Check(name, True, detail)


def check_semantic(settings: Settings) -> Check:
    """Whether the API can search by meaning: the query encoder loads without torch, and how
    many assets hold embeddings of the model."""
    name = "search by meaning"
    try:
        from catalog.encoders import EncoderUnavailable
        from indexer.query_encoder import LightQueryEncoder
    except ImportError as exc:
        return Check(
            name,
            False,
            f"the query encoder is not installed ({exc.name} missing)",
            "pip install 'smarttags[text-encoder]'",
        )
    try:
        info = LightQueryEncoder(settings).info()
        store = open_store(settings)
        try:
            count = store.vector_count(info.model_id)
        finally:
            store.close()
    except EncoderUnavailable as exc:
        fix = "run `smarttags index` once with this model (see README, Search by meaning)"
        return Check(name, False, str(exc), fix)
    except StoreError as exc:
        return Check(name, False, str(exc), "see the backend check above")
    detail = (
        f"queries are encoded without torch ({info.model_id}); {count} assets hold its "
        "embeddings"
    )
    if count == 0:
        detail += ": index the library, or re-tag it (`smarttags reindex`) after a model change"
    return Check(name, True, detail)


CHECKS: list[Callable[[Settings], Check]] = [
    check_data_dir,
    check_backend,
    check_queue,
    check_ffmpeg,
    check_model,
    check_semantic,
]


def run_checks(overrides: dict[str, Any]) -> Iterator[Check]:
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        yield Check(
            "settings",
            False,
            str(exc).splitlines()[0],
            "fix the SMARTTAGS_* variables or the TOML file named above",
        )
        return
    yield Check(
        "settings", True, f"backend {settings.effective_backend}, data dir {settings.data_dir}"
    )
    for check in CHECKS:
        yield check(settings)
