"""A small generated library for trying smarttags out: videos and images made by ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from indexer.ffmpeg_tools import find_ffmpeg

# (relative path, lavfi source, seconds or None for a still image)
SAMPLES: tuple[tuple[str, str, float | None], ...] = (
    ("campaigns/summer/bars.mp4", "smptehdbars=size=640x360:rate=25", 6),
    ("campaigns/summer/pattern.webm", "testsrc2=size=640x360:rate=25", 5),
    ("campaigns/winter/fractal.mkv", "mandelbrot=size=640x360:rate=25", 4),
    ("campaigns/winter/life.mp4", "life=size=640x360:rate=10:mold=10", 6),
    ("social/reels/gradients.mov", "gradients=size=640x360:rate=25:speed=0.05", 5),
    ("products/stills/bars.jpg", "smptebars=size=800x600", None),
    ("products/stills/pattern.png", "testsrc=size=800x600", None),
    ("products/stills/fractal.webp", "mandelbrot=size=800x600", None),
)
BROKEN = "inbox/broken-upload.mp4"  # an upload cut off half-way: shows how a failure reads
BROKEN_SHARE = 0.5  # of the whole clip: the mp4 index (moov box, written last) is lost


def _ffmpeg(binary: str, source: str, seconds: float | None, target: Path) -> None:
    args = [binary, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    if seconds is None:
        args += ["-frames:v", "1"]
    else:
        args += ["-t", str(seconds), "-g", "50", "-pix_fmt", "yuv420p"]
        # metadata a DAM reads from the container into the title field
        args += ["-metadata", f"title=Sample {target.stem}"]
    subprocess.run([*args, str(target)], check=True, capture_output=True)


def make_sample_library(root: Path, ffmpeg_binary: str | None = None) -> list[Path]:
    """Write the sample files under `root` (existing ones are kept); returns their paths."""
    binary = find_ffmpeg(ffmpeg_binary)
    made = []
    for rel, source, seconds in SAMPLES:
        target = root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _ffmpeg(binary, source, seconds, target)
        made.append(target)
    broken = root / BROKEN
    if not broken.exists():
        broken.parent.mkdir(parents=True, exist_ok=True)
        whole = made[0].read_bytes()  # a real H.264 mp4, as an upload that was cut off
        broken.write_bytes(whole[: int(len(whole) * BROKEN_SHARE)])
    return [*made, broken]
