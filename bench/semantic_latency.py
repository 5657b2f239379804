"""Search by meaning on the embedded SQLite store: latency at 100,000 assets with 3,000,000
frame vectors, through the paths a user takes.

Prints figures only; it never passes or fails on time.

    PYTHONPATH=. .venv/bin/python bench/semantic_latency.py
    PYTHONPATH=. .venv/bin/python bench/semantic_latency.py --data-dir /tmp/sem --keep

The model is a real open_clip architecture with random weights (indexer/random_model.py,
ViT-B-32 by default: 512 dimensions), exported to ONNX as `smarttags index` exports it; queries
are encoded by the API's own torch-free encoder (indexer/query_encoder.py).

The library (seeded): N assets, half images (one frame) and half videos whose frames make up
the rest of F frame vectors. Vectors are clustered as a library's are: C cluster centres are the
text embeddings of C captions (less their common part: random weights make every text's
embedding nearly the same); an asset is its centre plus noise, a frame its asset plus less
noise (unit vectors). Each asset's vocabulary median and spread are measured, as the indexer
measures them, against the embeddings of a vocabulary (V other captions); frames share their
asset's. A query is one of the captions, so its cluster's assets stand above the floor.

Figures (p50 and p99 over the queries, after a warm-up):
- in process, `query.service.search` as the CLI calls it, mode=semantic: over assets (type
  image: no video hits, no moments) and with moments (type video: every hit a video, its
  moments computed), the query embedding cached (a repeated query or a next page), and the
  text encoding a new query adds on top;
- the peer, measured in the same run: exact top-k over the same asset vectors in plain numpy
  (matrix-vector product and partial sort), the floor of what exact search costs;
- hybrid against keyword for the same texts (the cost of tier 4);
- HTTP: `smarttags serve` as a process of its own (one API process): its start to the first
  answer, the first semantic query after that (a new text), then one keep-alive client: each
  text once (its encoding included), then again over assets and with moments (cached).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from catalog.asset import Asset, MediaType
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from catalog.vectors import AssetVectors
from query.plan import SearchMode, SearchRequest
from query.server import freeze_heap
from query.service import search

WARMUP = 10
WRITE_BATCH = 1000
ASSET_NOISE = 0.6  # noise norm around a cluster centre (relative to the unit centre)
FRAME_NOISE = 0.3  # ... around the asset vector
CAPTION_WORDS = [
    "red", "blue", "old", "small", "busy", "quiet", "wet", "golden", "dark", "bright", "dog",
    "cat", "car", "boat", "bird", "child", "woman", "man", "horse", "train", "beach", "street",
    "forest", "kitchen", "stage", "harbour", "field", "snow", "running", "sleeping", "eating",
    "dancing", "driving", "jumping", "swimming",
]  # fmt: skip


def _captions(count: int, rng: np.random.Generator) -> list[str]:
    """Distinct captions of 4-7 words."""
    seen: dict[str, None] = {}
    while len(seen) < count:
        words = rng.choice(CAPTION_WORDS, size=int(rng.integers(4, 8)), replace=False)
        seen[f"a {' '.join(words)} at {int(rng.integers(1000))}"] = None
    return list(seen)


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def _noisy(base: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise *= scale / np.sqrt(base.shape[-1])
    return _unit_rows(base + noise)


def _stats(rows: np.ndarray, vocabulary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from indexer.asset_vectors import label_statistics

    return label_statistics(rows, vocabulary)


def _settings(data: Path, model: tuple[Path, Path], precision: str) -> Settings:
    config, checkpoint = model
    return Settings(
        data_dir=data,
        model=str(config),
        pretrained=str(checkpoint),
        inference_runtime="onnx",
        inference_precision=precision,
        max_exact_total=10_000,
        api_workers=1,
    )


def _export(settings: Settings) -> None:
    """Export the towers (torch, once per data dir), as the first `smarttags index` does."""
    from indexer.encoder import load_encoder

    load_encoder(settings, lambda what: print(f"  {what}", flush=True))


def build_library(settings: Settings, assets: int, frames: int, clusters: int, seed: int):
    """Write the library through the store; returns the captions (query texts)."""
    from indexer.query_encoder import LightQueryEncoder

    rng = np.random.default_rng(seed)
    encoder = LightQueryEncoder(settings)
    texts = _captions(2 * clusters, rng)
    captions, vocabulary_texts = texts[:clusters], texts[clusters:]
    model = encoder.info().model_id
    encoded = np.stack([encoder.encode_text(t) for t in captions])
    # random weights give every text nearly the same embedding: the centres are what sets
    # the captions apart (their shared part removed), as a trained model's embeddings differ
    centres = _unit_rows(encoded - encoded.mean(axis=0))
    vocabulary = np.stack([encoder.encode_text(t) for t in vocabulary_texts])
    videos = assets // 2
    per_video = max(1, (frames - (assets - videos)) // max(videos, 1))
    store = SqliteStore(settings)
    started = time.perf_counter()
    for first in range(0, assets, WRITE_BATCH):
        numbers = range(first, min(first + WRITE_BATCH, assets))
        cluster = rng.integers(clusters, size=len(numbers))
        vectors = _noisy(centres[cluster], ASSET_NOISE, rng)
        medians, spreads = _stats(vectors, vocabulary)
        writes, updates = [], {}
        for i, number in enumerate(numbers):
            video = number % 2 == 1
            asset = Asset.model_validate(
                {
                    "id": f"a{number:07d}",
                    "path": f"c{cluster[i]:04d}/a{number:07d}.{'mp4' if video else 'jpg'}",
                    "media_type": "video" if video else "image",
                    "title": captions[cluster[i]],
                    "duration_s": float(per_video) if video else None,
                }
            )
            count = per_video if video else 1
            rows = _noisy(np.repeat(vectors[i : i + 1], count, axis=0), FRAME_NOISE, rng)
            starts = np.arange(count, dtype=np.float32) if video else np.zeros(1, np.float32)
            updates[asset.id] = AssetVectors(
                model_id=model,
                vector=vectors[i],
                median=float(medians[i]),
                spread=float(spreads[i]),
                frames=rows.astype(np.float16),
                starts=starts,
                ends=starts + 1 if video else starts,
                frame_medians=np.full(count, medians[i], np.float32),
                frame_spreads=np.full(count, spreads[i], np.float32),
            )
            writes.append((asset, None))
        store.replace_many(writes, updates)
        done = numbers[-1] + 1
        rate = done / (time.perf_counter() - started)
        print(f"\r  wrote {done:,} assets ({rate:,.0f}/s)", end="", flush=True)
    print()
    store.close()
    return captions


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.2f} ms   p99 {p99:7.2f} ms"


def _timed(call: Callable[[], object], times: int = 1) -> list[float]:
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def in_process(settings: Settings, captions: list[str], queries: int, rng) -> dict[str, float]:
    from indexer.query_encoder import LightQueryEncoder

    store = SqliteStore(settings)
    encoder = LightQueryEncoder(settings)
    encoder.load()
    texts = list(rng.choice(captions, size=queries + WARMUP))
    # warm-up: the indexes, the sessions, and every query embedding (cached from here on)
    for text in texts:
        search(store, SearchRequest(text, mode=SearchMode.semantic), settings, encoder=encoder)
    freeze_heap()
    figures = {}
    for label, media in (("over assets", MediaType.image), ("with moments", MediaType.video)):
        samples, hits, totals = [], [], []
        for text in texts[WARMUP:]:
            request = SearchRequest(text, media_type=media, mode=SearchMode.semantic)
            start = time.perf_counter()
            result = search(store, request, settings, with_tags=True, encoder=encoder)
            samples.append((time.perf_counter() - start) * 1000)
            hits.append(len(result["hits"]))
            totals.append(result["total"]["value"])
        moments = sum(len(h["moments"]) for h in result["hits"])
        print(
            f"  semantic {label:13s} {_ms(samples)}   (hits per page {statistics.mean(hits):.1f},"
            f" total {statistics.median(totals):,.0f}; last page: {moments} moments)"
        )
        figures[label] = statistics.median(samples)
    fresh = _captions(len(captions) + queries, np.random.default_rng(99))[-queries:]
    encode = [t for text in fresh for t in _timed(lambda text=text: encoder.encode_text(text))]
    cached = [t for text in fresh for t in _timed(lambda text=text: encoder.encode_text(text))]
    print(f"  text encoding, new text  {_ms(encode)}")
    print(f"  text encoding, cached    {_ms(cached)}")
    keyword, hybrid = [], []
    for text in texts[WARMUP:]:
        keyword += _timed(
            lambda t=text: search(store, SearchRequest(t, mode=SearchMode.keyword), settings)
        )
        hybrid += _timed(
            lambda t=text: search(store, SearchRequest(t), settings, encoder=encoder)
        )
    print(f"  keyword                  {_ms(keyword)}")
    print(f"  hybrid (tiers 1-4)       {_ms(hybrid)}")
    figures["keyword"] = statistics.median(keyword)
    figures["hybrid"] = statistics.median(hybrid)
    figures["encode"] = statistics.median(encode)
    figures["peer"] = _numpy_peer(store, encoder, texts[WARMUP:])
    store.close()
    return figures


def _numpy_peer(store: SqliteStore, encoder, texts: list[str]) -> float:
    """Exact top-20 over the same asset vectors in plain numpy, the embeddings cached."""
    conn = store._conn()
    blobs = [row[0] for row in conn.execute("SELECT vector FROM asset_vectors ORDER BY rowid")]
    matrix = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), -1)
    samples = []
    for text in texts:
        query = encoder.encode_text(text)
        start = time.perf_counter()
        scores = matrix @ query
        top = np.argpartition(-scores, 20)[:20]
        top[np.argsort(-scores[top])]
        samples.append((time.perf_counter() - start) * 1000)
    print(f"  peer: numpy exact top-20 {_ms(samples)}")
    return statistics.median(samples)


def over_http(settings: Settings, captions: list[str], queries: int, rng) -> None:
    import httpx

    from tests.processes import Proc, free_port, settings_env, wait_http

    port = free_port()
    env = settings_env(settings)
    log = Path(tempfile.mkstemp(prefix="smarttags-serve-", suffix=".log")[1])
    started = time.perf_counter()
    proc = Proc(["-m", "smarttags", "serve", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc, timeout=600)
        ready = time.perf_counter() - started
        with httpx.Client(base_url=url, timeout=60) as client:
            first = _timed(
                lambda: client.get("/search", params={"q": "a first query", "mode": "semantic"})
            )[0]
            warmed = "(the encoder and the indexes warmed)"
            print(f"  API start to first answer {ready * 1000:8.0f} ms {warmed}")
            print(f"  first semantic query      {first:8.1f} ms (a new text: encoding included)")
            texts = list(dict.fromkeys(rng.choice(captions, size=queries + WARMUP)))

            def path(text: str, media: str) -> str:
                return "/search?" + urlencode({"q": text, "mode": "semantic", "type": media})

            fresh = [path(text, "image") for text in texts]
            new = [t for p in fresh for t in _timed(lambda p=p: client.get(p))]
            print(f"  HTTP semantic, new text   {_ms(new[WARMUP:])} (encoding included)")
            for label, media in (("over assets", "image"), ("with moments", "video")):
                paths = [path(text, media) for text in texts]
                samples = [t for p in paths for t in _timed(lambda p=p: client.get(p))]
                print(f"  HTTP semantic {label:12s} {_ms(samples[WARMUP:])}")
    finally:
        proc.stop()
        log.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=3_000_000)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8", "auto"])
    parser.add_argument("--data-dir", type=Path, help="keep the library here between runs")
    parser.add_argument("--keep", action="store_true", help="do not delete the data dir")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="smarttags-semantic-"))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; data in {data}")
    from indexer.random_model import write_random_model

    model = write_random_model(args.model, data / "model")
    settings = _settings(data / "data", model, args.precision)
    try:
        print(f"model {args.model} (random weights), exported to ONNX ({args.precision})")
        _export(settings)
        captions = _captions(args.clusters, np.random.default_rng(args.seed))
        store = SqliteStore(settings)
        present = store.count()
        store.close()
        if present != args.assets:
            print(f"library: {args.assets:,} assets, {args.frames:,} frame vectors")
            captions = build_library(settings, args.assets, args.frames, args.clusters, args.seed)
        size = settings.sqlite_path.stat().st_size / 2**30
        print(f"library ready: {args.assets:,} assets, SQLite file {size:.1f} GiB")
        rng = np.random.default_rng(args.seed + 1)
        print("in process (query.service.search):")
        figures = in_process(settings, captions, args.queries, rng)
        print(
            "  ratios: semantic over assets / numpy peer "
            f"{figures['over assets'] / figures['peer']:.1f}x; hybrid / keyword "
            f"{figures['hybrid'] / figures['keyword']:.1f}x"
        )
        if not args.no_http:
            print("HTTP (smarttags serve, one API process):")
            over_http(settings, captions, args.queries, rng)
    finally:
        if not (args.keep or args.data_dir):
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
