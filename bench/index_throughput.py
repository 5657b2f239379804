"""Indexer throughput: how fast the CLIP encoders run on this machine.

Prints figures only; it never passes or fails on time.

    .venv/bin/python bench/index_throughput.py
    .venv/bin/python bench/index_throughput.py --models ViT-B-32 --precisions fp32 bf16 amp_bf16

Models get random weights (no weights can be downloaded here); the architecture, and so the
cost, is the real one. Frames go through the indexer's own encode path (`ClipModel`: uint8
batch, normalization in torch, batching and precision from Settings). Warm-up batches are not
timed. Each measurement runs in a fresh process, so its peak RSS is its own.

One function per measurement, each returning a dict of figures; `main` prints them as a table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench.video_realtime import measure_video, print_video_row
from catalog.settings import Settings

DEFAULT_MODELS = ("ViT-B-32", "ViT-B-16")
WARMUP_BATCHES = 1
MIN_TIMED_BATCHES = 2
MIN_TIMED_SECONDS = 15.0
TEXT_PROMPTS = 256  # about a fifth of a vocabulary ensemble's prompts


def measure_encoder(name: str, settings: Settings) -> dict[str, Any]:
    """Image-encoder throughput of one architecture at the indexer's batch size and precision."""
    model = _random_model(name, settings)
    batch = np.random.default_rng(0).integers(
        0,
        256,
        size=(settings.encode_batch_size, model.image_size, model.image_size, 3),
        dtype=np.uint8,
    )
    for _ in range(WARMUP_BATCHES):
        model.encode_images(batch)
    rates = _timed_rates(lambda: model.encode_images(batch), len(batch))
    return _row("image encoder", name, settings, settings.encode_batch_size, rates, "images/s")


def measure_text_encoder(name: str, settings: Settings) -> dict[str, Any]:
    """Text-encoder throughput: the one-off cost of embedding a vocabulary's prompts."""
    model = _random_model(name, settings)
    texts = [f"a photo of a label number {i}." for i in range(TEXT_PROMPTS)]
    model.encode_texts(texts[: settings.text_batch_size])
    rates = _timed_rates(lambda: model.encode_texts(texts), len(texts))
    return _row("text encoder", name, settings, settings.text_batch_size, rates, "prompts/s")


def _row(
    measure: str, name: str, settings: Settings, batch: int, rates: dict[str, float], unit: str
) -> dict[str, Any]:
    return {
        "measure": measure,
        "model": name,
        "precision": settings.encode_precision,
        "batch": batch,
        "threads": _threads(),
        **rates,
        "unit": unit,
        "peak_rss_mb": peak_rss_mb(),
    }


def _random_model(name: str, settings: Settings):
    from indexer.model import ClipModel, create_open_clip, set_torch_threads

    set_torch_threads(settings)
    module = create_open_clip(name, settings)
    return ClipModel(module, _tokenizer(name), f"{name}/random", settings)


def _tokenizer(name: str):
    import open_clip

    return open_clip.get_tokenizer(name)


def _timed_rates(work: Callable[[], Any], items_per_call: int) -> dict[str, float]:
    """Items per second over all timed calls, and in the fastest call: on a shared machine
    the fastest call is the one least disturbed by other processes."""
    durations: list[float] = []
    start = time.perf_counter()
    while len(durations) < MIN_TIMED_BATCHES or time.perf_counter() - start < MIN_TIMED_SECONDS:
        began = time.perf_counter()
        work()
        durations.append(time.perf_counter() - began)
    return {
        "per_s": items_per_call * len(durations) / sum(durations),
        "best_per_s": items_per_call / min(durations),
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one measurement in a fresh process, so that its memory figures are its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def print_header() -> None:
    print(
        f"{'measure':<14} {'model':<10} {'precision':<9} {'batch':>5} {'threads':>7} "
        f"{'throughput':>18} {'best call':>10} {'peak RSS':>10}"
    )


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['measure']:<14} {row['model']:<10} {row['precision']:<9} {row['batch']:>5} "
        f"{row['threads']:>7} {row['per_s']:>8.2f} {row['unit']:<9} {row['best_per_s']:>10.2f} "
        f"{row['peak_rss_mb']:>7.0f} MB",
        flush=True,
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=["fp32", "bf16", "amp_bf16"],
        help="default: Settings.encode_precision",
    )
    parser.add_argument("--batch-size", type=int, help="default: Settings.encode_batch_size")
    parser.add_argument("--text", action="store_true", help="also time the text encoder")
    parser.add_argument(
        "--video-minutes",
        type=float,
        default=10.0,
        help="length of the generated 1080p video (0: skip the video run)",
    )
    parser.add_argument(
        "--gops",
        type=float,
        nargs="+",
        default=[2.0],
        help="keyframe intervals (s) of the generated videos, one run each",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("bench/out"),
        help="where generated videos and the random checkpoint are kept",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _arguments(argv)
    base = Settings()
    overrides = {"encode_batch_size": arguments.batch_size} if arguments.batch_size else {}
    precisions = arguments.precisions or [base.encode_precision]
    print(f"cpu cores: {os.cpu_count()}, torch threads: {base.torch_threads or os.cpu_count()}")
    print_header()
    for name in arguments.models:
        for precision in precisions:
            settings = base.model_copy(update={**overrides, "encode_precision": precision})
            print_row(run_isolated(measure_encoder, name, settings))
            if arguments.text:
                print_row(run_isolated(measure_text_encoder, name, settings))
    if arguments.video_minutes > 0:
        arguments.workdir.mkdir(parents=True, exist_ok=True)
        for gop in arguments.gops:
            print_video_row(
                run_isolated(
                    measure_video, arguments.video_minutes, gop, arguments.workdir.resolve()
                )
            )


if __name__ == "__main__":
    main()
