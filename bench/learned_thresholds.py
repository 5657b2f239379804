"""Omnisearch with learned per-tag thresholds, against the same engine with kind thresholds
only, on the same library and queries.

Prints figures only; it never passes or fails on time.

    PYTHONPATH=. .venv/bin/python bench/learned_thresholds.py                # 100,000 assets
    PYTHONPATH=. .venv/bin/python bench/learned_thresholds.py --size 20000 --learned 500

The library and the query mix are bench/search_latency.py's (5-30 Zipf-distributed tags per
asset, confidences 0.3-1.0: stored candidates, most of them below 0.7, many tags sharing words).
It is imported with `smarttags import`; then `query.service.search` (what the CLI calls) is
timed in process, after a warm-up and gc.freeze() as a server does:
- peer: the kind thresholds alone (the shadow postings are never read);
- ours: `--learned` tag names (the most frequent first, as curation meets them) carry learned
  thresholds (0.4-0.95) in the store: a query whose words a learned tag holds reads the shadow
  postings and checks thresholds per posting, on the engine's own path.
Also the share of queries that met a learned tag, and the postings the shadows add.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.search_latency import (
    WARMUP,
    build_vocabulary,
    load_line,
    make_query,
    p50_p99,
    time_cli_import,
    write_library,
)
from catalog.analysis import analyze_unique
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from catalog.tag_thresholds import TagThreshold, current_thresholds, forget
from catalog.term_rows import SHADOW_BASE
from query.server import freeze_heap
from query.service import search


def _time(store: SqliteStore, queries: list) -> list[float]:
    ms = []
    for query in queries:
        start = time.perf_counter()
        search(store, query.request, store.settings)
        ms.append((time.perf_counter() - start) * 1000)
    return ms


def _learn(store: SqliteStore, names: list[tuple[str, str]], rng: random.Random) -> None:
    records = [
        TagThreshold(
            tag=name,
            kind=kind,
            threshold=round(rng.uniform(0.4, 0.95), 3),
            positives=rng.randint(3, 30),
            negatives=rng.randint(3, 30),
        )
        for name, kind in names
    ]
    store.save_tag_thresholds(records)
    forget(store)


def _shadow_postings(store: SqliteStore) -> tuple[int, int]:
    conn = store._conn()
    conn.execute("BEGIN")
    try:
        snap = store._index.snapshot(conn)
    finally:
        conn.execute("COMMIT")
    channels = np.concatenate([s.tag_channel for s in snap.segments])
    return int(np.count_nonzero(channels >= SHADOW_BASE)), len(channels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="assets")
    parser.add_argument("--queries", type=int, default=2000, help="measured queries")
    parser.add_argument("--learned", type=int, default=200, help="tags with a learned threshold")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="keep the library and stores here")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="smarttags-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    vocab = build_vocabulary(rng)
    library = work / f"library-{args.size}.jsonl"
    if not library.exists():
        write_library(library, random.Random(args.seed + args.size), vocab, args.size)
    query_rng = random.Random(args.seed * 31 + 1)
    mix = [make_query(query_rng, vocab, i) for i in range(WARMUP + args.queries)]
    data_dir = work / f"thresholds-{args.size}"
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"== {args.size:,} assets, {args.queries} queries, {args.learned} learned tags ==")
    print(f"  ({load_line()})")
    seconds = time_cli_import(library, data_dir)
    print(f"  import: {args.size / seconds:,.0f} assets/s (smarttags import, own process)")

    store = SqliteStore(Settings(data_dir=data_dir))
    shadows, postings = _shadow_postings(store)
    share = shadows / max(postings, 1)
    print(f"  tag postings: {postings:,}, of which shadow postings {shadows:,} ({share:.1%})")
    _time(store, mix[:WARMUP])
    freeze_heap()
    peer = p50_p99(_time(store, mix[WARMUP:]))

    names = list(vocab.tags.items[: args.learned])
    _learn(store, names, random.Random(args.seed))
    learned = current_thresholds(store, store.settings)
    met = sum(bool(learned.for_terms(analyze_unique(q.request.text))) for q in mix[WARMUP:])
    _time(store, mix[:WARMUP])
    ours = p50_p99(_time(store, mix[WARMUP:]))
    store.delete_tag_thresholds([name for name, _ in names])  # the peer again, after ours
    forget(store)
    again = p50_p99(_time(store, mix[WARMUP:]))
    store.close()

    print(f"  queries meeting a learned tag: {met} of {args.queries} ({met / args.queries:.0%})")
    print(f"  {'in process (ms)':<16}{'learned':>10}{'kinds only':>12}{'again':>8}{'ratio':>8}")
    rows = (("p50", ours[0], peer[0], again[0]), ("p99", ours[1], peer[1], again[1]))
    for label, a, b, c in rows:
        print(f"  {label:<16}{a:>10.2f}{b:>12.2f}{c:>8.2f}{2 * a / (b + c):>8.2f}")
    print(f"  ({load_line()})")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
