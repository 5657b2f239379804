"""Locating the ffmpeg and ffprobe executables.

A pip-only install has no ffmpeg on PATH, so the binary that the imageio-ffmpeg wheel ships is
the fallback. That wheel has no ffprobe: ffprobe is optional everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path


class FfmpegNotFound(RuntimeError):
    """No usable ffmpeg executable: install ffmpeg or the imageio-ffmpeg package."""


@lru_cache(maxsize=8)
def find_ffmpeg(override: str | None = None) -> str:
    """The ffmpeg executable: `override` if given, else PATH, else imageio-ffmpeg's binary."""
    if override:
        found = shutil.which(override)
        if found is None:
            raise FfmpegNotFound(f"the configured ffmpeg {override!r} is not an executable")
        return found
    on_path = shutil.which("ffmpeg")
    if on_path is not None:
        return on_path
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise FfmpegNotFound(
            "ffmpeg was not found on PATH and the imageio-ffmpeg package has no binary "
            "for this platform: install ffmpeg, or `pip install imageio-ffmpeg`"
        ) from exc


@lru_cache(maxsize=1)
def find_ffprobe() -> str | None:
    """ffprobe from PATH, or None: callers fall back to parsing ffmpeg's own report."""
    return shutil.which("ffprobe")


def input_url(path: Path) -> str:
    """An ffmpeg input argument that is always read as a local file.

    Without the `file:` protocol a name such as `-x.mp4` reads as an option and `a:b.mp4`
    as a protocol.
    """
    return "file:" + str(Path(path).absolute())


def run_bounded(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[bytes]:
    """Run a tool to completion with no stdin, capturing its output; TimeoutExpired past the
    limit (the child is killed), so a hostile file cannot hang a run."""
    return subprocess.run(
        args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
    )
