"""Indexing speed on this machine, in one run: encoder rates per runtime, then the CLI.

    .venv/bin/python -m bench.index_throughput
    .venv/bin/python -m bench.index_throughput --images 120 --video-minutes 1

Prints figures only; it never passes or fails on time.

1. The image encoder of ViT-B-32 (random weights, the real architecture) at the indexer's
   batch size on every path this machine offers: torch fp32 (the peer every figure is
   compared with), torch bf16 where the CPU has native bf16, ONNX Runtime fp32 and int8.
   Then the path `auto` chooses, with its reasons.
2. `smarttags index` as a user runs it (a subprocess, stderr on a pseudo-terminal so the
   progress bar draws as it would on screen):
   - generated 640x480 JPEGs on a fresh data dir (the first-ever run: export, runtime
     measurement and vocabulary embedding included), then as many new ones warm;
   - 1080p H.264 videos with a keyframe every 2 s and every 10 s, warm, as real-time factors;
   - process start to the first progress update (the first file counted), warm;
   - peak RSS of each CLI process (os.wait4).
   Rates are also printed as a ratio to the torch fp32 encoder rate measured above.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import resource
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from catalog.settings import Settings

MODEL = "ViT-B-32"
MIN_TIMED_SECONDS = 8.0
MIN_TIMED_BATCHES = 2
IMAGE_SIZE = (640, 480)
_COUNTED = re.compile(rb"\b([1-9]\d*)/(\d+)\b")
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


# 1. encoder rates
def measure_path(runtime: str, precision: str, settings: Settings) -> dict[str, Any]:
    """Images/s of one forced path, in a fresh process (its own memory and threads)."""
    from indexer.encoder import load_encoder

    forced = settings.model_copy(
        update={"inference_runtime": runtime, "inference_precision": precision}
    )
    encoder = load_encoder(forced)
    size = encoder.image_size
    batch = np.random.default_rng(0).integers(
        0, 256, (settings.encode_batch_size, size, size, 3), dtype=np.uint8
    )
    encoder.encode_images(batch)  # warm-up
    durations: list[float] = []
    start = time.perf_counter()
    while len(durations) < MIN_TIMED_BATCHES or time.perf_counter() - start < MIN_TIMED_SECONDS:
        began = time.perf_counter()
        encoder.encode_images(batch)
        durations.append(time.perf_counter() - began)
    return {
        "path": f"{runtime} {precision}",
        "per_s": len(batch) * len(durations) / sum(durations),
        "best_per_s": len(batch) / min(durations),
        "peak_rss_mb": peak_rss_mb(),
    }


def chosen_path(settings: Settings) -> str:
    from indexer.encoder import describe_runtime

    return describe_runtime(settings)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(function, *args: Any) -> Any:
    """Run one measurement in a fresh process, so that its memory figures are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# 2. the CLI
@dataclass
class CliRun:
    seconds: float
    first_progress_s: float | None
    first_done: int  # files counted at the first progress update
    peak_rss_mb: float
    exit_code: int
    tail: str


def run_cli(args: list[str], env: dict[str, str]) -> CliRun:
    """`smarttags ARGS` with stderr on a pseudo-terminal; times the first counted file."""
    master, slave = pty.openpty()
    began = time.perf_counter()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("smarttags")), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    first: float | None = None
    first_done = 0
    output = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                break
            output += chunk
            counted = first is None and _COUNTED.search(_ANSI.sub(b"", bytes(output[-4096:])))
            if counted:
                first, first_done = time.perf_counter() - began, int(counted.group(1))
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    os.close(master)
    tail = _ANSI.sub(b"", bytes(output[-600:])).decode("utf-8", "replace")
    return CliRun(
        time.perf_counter() - began,
        first,
        first_done,
        usage.ru_maxrss / 1024,
        process.returncode,
        tail,
    )


def make_images(folder: Path, count: int, seed: int) -> Path:
    """Photograph-like JPEGs: smooth colour fields, shapes and grain (fast to make)."""
    from PIL import Image

    from indexer.runtime_choice import check_images

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tiles = check_images(256, 16)
    for index in range(count):
        tile = tiles[index % len(tiles)].astype(np.int16) + rng.integers(-20, 20, 3)
        picture = Image.fromarray(np.clip(tile, 0, 255).astype(np.uint8)).resize(IMAGE_SIZE)
        picture.save(folder / f"img-{seed}-{index:04d}.jpg", quality=88)
    return folder


def cli_env(data: Path, config: Path, checkpoint: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SMARTTAGS_DATA_DIR=str(data),
        SMARTTAGS_MODEL=str(config),
        SMARTTAGS_PRETRAINED=str(checkpoint),
        SMARTTAGS_MAX_FILE_MB="2000",
        COLUMNS="120",
    )
    return env


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--video-minutes", type=float, default=2.0)
    parser.add_argument("--gops", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    from bench.video_realtime import make_video
    from indexer.ffmpeg_tools import find_ffmpeg
    from indexer.hardware import detect
    from indexer.random_model import write_random_model

    arguments = _arguments(argv)
    work = arguments.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    config, checkpoint = write_random_model(MODEL, work / "model")
    run_dir = work / f"run-{os.getpid()}"
    data = run_dir / "data"
    base = Settings(model=str(config), pretrained=str(checkpoint), data_dir=run_dir / "encoders")
    print(f"machine: {detect().summary()}")
    print(f"model: {MODEL}, random weights; encoder batch {base.encode_batch_size}\n")

    # 1. encoder rates (the export is made once, by the first ONNX path)
    rates: dict[str, float] = {}
    paths = [("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")]
    if detect().native_bf16:
        paths.insert(1, ("torch", "bf16"))
    print(f"{'encoder path':<14} {'images/s':>9} {'best batch':>11} {'vs torch fp32':>14}")
    for runtime, precision in paths:
        row = run_isolated(measure_path, runtime, precision, base)
        rates[row["path"]] = row["per_s"]
        print(
            f"{row['path']:<14} {row['per_s']:>9.1f} {row['best_per_s']:>11.1f} "
            f"{row['per_s'] / rates['torch fp32']:>13.2f}x",
            flush=True,
        )
    peer = rates["torch fp32"]

    # 2. the CLI, as a user runs it
    env = cli_env(data, config, checkpoint)
    first = make_images(run_dir / "images-a", arguments.images, seed=1)
    second = make_images(run_dir / "images-b", arguments.images, seed=2)
    fresh = run_cli(["index", str(first)], env)
    print("\npath chosen by auto on this machine:")
    print(
        "  "
        + "\n  ".join(
            run_isolated(chosen_path, base.model_copy(update={"data_dir": data})).splitlines()
        )
    )
    chosen = _chosen_rate(data, base, rates)
    warm = run_cli(["index", str(second)], env)
    print(f"\n{'end to end (smarttags index)':<44} {'figure':>16} {'vs torch fp32':>14}")
    _rate_row(
        f"{arguments.images} JPEGs, fresh data dir (first run)", fresh, arguments.images, peer
    )
    _rate_row(f"{arguments.images} JPEGs, warm", warm, arguments.images, peer)
    if chosen:
        print(
            f"{'  warm images/s as a share of the chosen encoder':<44} "
            f"{arguments.images / warm.seconds / chosen:>15.0%}"
        )
        _steady_row(warm, arguments.images, chosen, "the chosen encoder")
    _slow_encoder_share(run_dir, env, arguments.images, peer)
    ffmpeg = find_ffmpeg(None)
    for gop in arguments.gops:
        video = make_video(
            work / f"video-{arguments.video_minutes:g}min-gop{gop:g}.mp4",
            arguments.video_minutes,
            gop,
            ffmpeg,
        )
        folder = run_dir / f"video-gop{gop:g}"
        folder.mkdir()
        shutil.copy(video, folder / video.name)
        done = run_cli(["index", str(folder)], env)
        seconds = arguments.video_minutes * 60
        frames = _frames_of(data, folder / video.name, base)
        print(
            f"{f'1080p H.264, keyframe every {gop:g} s':<44} "
            f"{seconds / done.seconds:>14.1f}x {'real time':<10} "
            f"({frames} frames, {frames / done.seconds / peer:.2f}x torch fp32 frames/s; "
            f"{done.seconds:.1f} s wall, start included; exit {done.exit_code})"
        )
        _check(done)
    start = run_cli(["index", str(first)], env)  # everything unchanged: start is what remains
    first_at = f"{start.first_progress_s:.2f} s" if start.first_progress_s else "never seen"
    print(f"{'process start to first progress, warm':<44} {first_at:>16}")
    peak = max(fresh.peak_rss_mb, warm.peak_rss_mb, start.peak_rss_mb)
    print(
        f"{'peak RSS of the CLI (fresh / warm run)':<44} "
        f"{fresh.peak_rss_mb:>7.0f} / {warm.peak_rss_mb:.0f} MB (max {peak:.0f} MB)"
    )
    shutil.rmtree(run_dir, ignore_errors=True)


def _slow_encoder_share(run_dir: Path, env: dict[str, str], count: int, peer: float) -> None:
    """The same warm run with torch fp32 forced: an encoder about as fast as ONNX int8 on a
    CPU without VNNI, so the pipeline's share of it stands for such a machine."""
    forced = dict(env, SMARTTAGS_INFERENCE_RUNTIME="torch", SMARTTAGS_INFERENCE_PRECISION="fp32")
    run = run_cli(["index", str(make_images(run_dir / "images-c", count, seed=3))], forced)
    _rate_row(f"{count} JPEGs, warm, torch fp32 forced", run, count, peer)
    _steady_row(run, count, peer, "the torch fp32 encoder")


def _steady_row(run: CliRun, count: int, encoder_rate: float, encoder: str) -> None:
    """The rate from the first progress update to the end: the process start left out."""
    if run.first_progress_s:
        steady = (count - run.first_done) / (run.seconds - run.first_progress_s)
        print(
            f"{'  ... after the first progress update':<44} {steady:>9.1f} img/s "
            f"{steady / encoder_rate:>6.0%} of {encoder} (start excluded)"
        )


def _rate_row(label: str, run: CliRun, count: int, peer: float) -> None:
    rate = count / run.seconds
    print(f"{label:<44} {rate:>9.1f} img/s {rate / peer:>13.2f}x  ({run.seconds:.1f} s wall)")
    _check(run)


def _check(run: CliRun) -> None:
    if run.exit_code != 0:
        print(f"  the CLI exited {run.exit_code}: {run.tail[-300:]}")


def _chosen_rate(data: Path, base: Settings, rates: dict[str, float]) -> float | None:
    from indexer.export_cache import find_export
    from indexer.hardware import detect
    from indexer.runtime_choice import read_choice

    settings = base.model_copy(update={"data_dir": data})
    exported = find_export(settings)
    choice = read_choice(exported.directory, detect(), settings) if exported else None
    if choice is None:
        return None
    path = choice.image.path
    return rates.get(f"{path.runtime} {path.precision}")


def _frames_of(data: Path, video: Path, base: Settings) -> int:
    from catalog.sqlite_store import SqliteStore
    from indexer.embedding_cache import EmbeddingCache, content_hash

    settings = base.model_copy(update={"data_dir": data})
    store = SqliteStore(settings)
    try:
        asset = next((a for a in store.iter_assets() if a.file_name == video.name), None)
    finally:
        store.close()
    if asset is None or asset.model_id is None:
        return 0
    cache = EmbeddingCache(settings)
    digest = content_hash(video, settings)
    folder = cache.root
    found = list(folder.rglob(f"{digest}*.npz"))
    return len(np.load(found[0])["frames"]) if found else 0


if __name__ == "__main__":
    main()
