"""End-to-end video tagging speed: a generated 1080p H.264 video through the whole pipeline.

The video is made by ffmpeg (testsrc2, moving content, a keyframe every GOP seconds) and
tagged by the real pipeline (probe, frames, ViT-B-32 with random weights, tags, poster,
SQLite write) at default settings. Model loading and the one-time vocabulary embedding are
timed apart, since they happen once per process, not per video. Prints figures only.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from catalog.settings import Settings

FPS = 25
SIZE = "1920x1080"


def make_video(target: Path, minutes: float, gop_s: float, ffmpeg: str) -> Path:
    if target.exists():
        return target
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")  # never a truncated one
    frames_per_gop = int(gop_s * FPS)
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={SIZE}:rate={FPS}",
            "-t",
            str(minutes * 60),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(frames_per_gop),
            "-keyint_min",
            str(frames_per_gop),
            "-sc_threshold",
            "0",
            str(partial),
        ],
        check=True,
    )
    partial.replace(target)
    return target


def measure_video(
    minutes: float, gop_s: float, workdir: Path, base: Settings | None = None
) -> dict[str, Any]:
    """Real-time factor of tagging one generated video; run it in a fresh process."""
    from catalog.sqlite_store import SqliteStore
    from indexer.engine import TaggingEngine
    from indexer.ffmpeg_tools import find_ffmpeg
    from indexer.pipeline import IndexRun
    from indexer.random_model import write_random_model
    from indexer.scan import scan

    video = make_video(
        workdir / f"video-{minutes:g}min-gop{gop_s:g}.mp4", minutes, gop_s, find_ffmpeg(None)
    )
    config, checkpoint = write_random_model("ViT-B-32", workdir / "model")
    data = Path(tempfile.mkdtemp(dir=workdir))
    settings = (base or Settings()).model_copy(
        update={
            "data_dir": data,
            "model": str(config),
            "pretrained": str(checkpoint),
            "max_file_mb": max(300.0, video.stat().st_size / 2**20 + 1),
        }
    )
    started = time.perf_counter()
    engine = TaggingEngine(settings)
    engine.prepare()  # model + text embeddings of the vocabularies (cached on disk after)
    setup_s = time.perf_counter() - started
    store = SqliteStore(settings)
    started = time.perf_counter()
    summary = IndexRun(settings, store, engine).run(scan([video], None))
    elapsed = time.perf_counter() - started
    asset = next(store.iter_assets())
    store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "video": f"{minutes:g} min 1080p H.264, keyframe every {gop_s:g} s",
        "size_mb": video.stat().st_size / 2**20,
        "tagged": summary.tagged,
        "frames": len(engine.cached_embeddings(asset.content_hash)[1]),
        "tags": len(asset.smart_tags),
        "setup_s": setup_s,
        "elapsed_s": elapsed,
        "realtime_x": minutes * 60 / elapsed,
        "peak_rss_mb": rss,
        "precision": engine.model.choice.image.path.label(),
        "max_frame_gap_s": settings.max_frame_gap_s,
    }


def print_video_row(row: dict[str, Any]) -> None:
    print(
        f"{row['video']}: {row['size_mb']:.0f} MB, {row['frames']} frames, {row['tags']} tags; "
        f"tagged in {row['elapsed_s']:.1f} s = {row['realtime_x']:.1f}x real time "
        f"({row['precision']}, frame gap {row['max_frame_gap_s']:g} s); "
        f"one-time model + vocabulary setup {row['setup_s']:.1f} s; "
        f"peak RSS {row['peak_rss_mb']:.0f} MB (the indexing process; ffmpeg runs beside it)",
        flush=True,
    )
