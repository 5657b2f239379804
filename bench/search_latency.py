"""Import rate and Omnisearch latency of the embedded SQLite store on a synthetic library.

Prints figures only; it never passes or fails on time.

    .venv/bin/python bench/search_latency.py --sizes 10000 100000 --queries 1000 --seed 7

For each size: generate N assets (seeded, so every run sees the same library) as a JSON Lines
file, time `import_jsonl` into a fresh SQLite store (parsing and validation included, as
`smarttags import` does), then time `query.service.search` (what the CLI and API call) over a
mix of queries: 1-4 terms from tag names and metadata words, half Zipf-weighted and half
uniform, some with folder, media-type or kind filters or a later page, a few browse and
stop-word queries (the first WARMUP queries are not counted).

Every figure is wall time unless it says CPU; the machine's load average is printed alongside,
since other work on a small machine moves wall times a lot.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog.analysis import STOP_WORDS, analyze
from catalog.asset import MediaType, TagKind
from catalog.jsonl import import_jsonl
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from query.plan import SearchRequest
from query.service import search

META_WORDS = 4000
TAG_NAMES = 2000
WARMUP = 20
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
           "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "sh", "st", "tr"]  # fmt: skip
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
_CODAS = ["", "", "", "n", "r", "l", "m", "s", "x", "nd", "rk", "st"]


@dataclass(frozen=True)
class Zipf:
    """Draws items with probability proportional to 1 / rank ** s (rank 1 = first item)."""

    items: Sequence[Any]
    cumulative: list[float]

    @classmethod
    def over(cls, items: Sequence[Any], s: float = 1.0) -> Zipf:
        weights = (1 / (rank**s) for rank in range(1, len(items) + 1))
        return cls(items, list(itertools.accumulate(weights)))

    def draw(self, rng: random.Random, k: int) -> list[Any]:
        return rng.choices(self.items, cum_weights=self.cumulative, k=k)


@dataclass(frozen=True)
class Vocabulary:
    words: Zipf  # metadata words
    tags: Zipf  # (name, kind) pairs
    tag_words: list[str]  # the single words tag names are made of
    folders: list[str]  # every folder of the tree, depth 1-3


@dataclass(frozen=True)
class BenchQuery:
    request: SearchRequest
    shape: str  # browse, 1 term, 2 terms, 3-4 terms, stop words

    @property
    def filtered(self) -> bool:
        r = self.request
        return bool(r.folder or r.media_type or r.kinds or r.offset)

    def label(self) -> str:
        parts = [repr(self.request.text)]
        if self.request.folder:
            parts.append(f"folder={self.request.folder}")
        if self.request.media_type:
            parts.append(f"type={self.request.media_type.value}")
        if self.request.kinds:
            parts.append("kind=" + ",".join(k.value for k in self.request.kinds))
        if self.request.offset:
            parts.append(f"offset={self.request.offset}")
        return " ".join(parts)


@dataclass(frozen=True)
class Timing:
    query: BenchQuery
    ms: float
    cpu_ms: float  # this thread's CPU time: steadier than wall time on a shared machine
    total: int


# vocabulary
def _synthetic_words(rng: random.Random, count: int) -> list[str]:
    """Pronounceable made-up words, each analyzed to one token of its own."""
    words: list[str] = []
    stems: set[str] = set()
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 3))
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
        )
        tokens = analyze(word)
        if word in STOP_WORDS or len(tokens) != 1 or tokens[0] in stems:
            continue
        stems.add(tokens[0])
        words.append(word)
    return words


def _tag_names(rng: random.Random, words: list[str], count: int) -> list[tuple[str, str]]:
    """Tag names with a fixed kind each; one in four is two or three words."""
    kinds = [TagKind.object.value] * 7 + [TagKind.action.value] * 2 + [TagKind.custom.value]
    names: dict[str, str] = {}
    while len(names) < count:
        size = rng.choices((1, 2, 3), weights=(75, 20, 5))[0]
        name = " ".join(rng.sample(words, size))
        names.setdefault(name, rng.choice(kinds))
    return list(names.items())


def _folders(rng: random.Random, words: list[str]) -> list[str]:
    folders = []
    for top in rng.sample(words, 12):
        folders.append(top)
        for mid in rng.sample(words, 6):
            folders.append(f"{top}/{mid}")
            folders.extend(f"{top}/{mid}/{leaf}" for leaf in rng.sample(words, 4))
    return folders


def build_vocabulary(rng: random.Random) -> Vocabulary:
    words = _synthetic_words(rng, META_WORDS)
    # Tags share words with metadata, as "beach" is both a title word and a tag in a real library.
    tag_words = rng.sample(words, TAG_NAMES)
    tags = _tag_names(rng, tag_words, TAG_NAMES)
    return Vocabulary(Zipf.over(words), Zipf.over(tags), tag_words, _folders(rng, words))


# library
def _smart_tags(rng: random.Random, vocab: Vocabulary) -> list[dict[str, Any]]:
    picked = dict(vocab.tags.draw(rng, rng.randint(5, 30)))
    return [
        {"tag": name, "kind": kind, "confidence": round(rng.uniform(0.3, 1.0), 3)}
        for name, kind in picked.items()
    ]


def _curation(rng: random.Random, vocab: Vocabulary, machine: list[str]) -> dict[str, list[str]]:
    """Manual tags on ~10% of assets, a promoted tag on ~5%, a removed tag on ~5%."""
    fields: dict[str, list[str]] = {}
    if rng.random() < 0.10:
        fields["manual_tags"] = [name for name, _ in vocab.tags.draw(rng, rng.randint(1, 2))]
    if rng.random() < 0.05:
        fields["promoted_tags"] = [rng.choice(machine)]
    if rng.random() < 0.05:
        fields["removed_tags"] = [rng.choice(machine)]
    return fields


def _file_name(rng: random.Random, vocab: Vocabulary, index: int, ext: str) -> str:
    if rng.random() < 0.5:
        return f"IMG_{index:06d}.{ext}"
    return "_".join(vocab.words.draw(rng, 2)) + f"_{index % 1000:03d}.{ext}"


def make_asset(rng: random.Random, vocab: Vocabulary, index: int) -> dict[str, Any]:
    video = rng.random() < 0.4
    ext = rng.choice(("mp4", "mov")) if video else rng.choice(("jpg", "png"))
    folder = rng.choice(vocab.folders)
    tags = _smart_tags(rng, vocab)
    created = EPOCH + timedelta(minutes=index * 3 + rng.randint(0, 2))
    words = vocab.words
    return {
        "id": f"a{index:07d}",
        "path": f"{folder}/{_file_name(rng, vocab, index, ext)}",
        "media_type": MediaType.video.value if video else MediaType.image.value,
        "title": " ".join(words.draw(rng, rng.randint(2, 7))).capitalize(),
        "description": " ".join(words.draw(rng, rng.randint(0, 30))),
        "keywords": words.draw(rng, rng.randint(0, 8)),
        "smart_tags": tags,
        **_curation(rng, vocab, [t["tag"] for t in tags]),
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "tagged",
    }


def write_library(path: Path, rng: random.Random, vocab: Vocabulary, size: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for index in range(size):
            out.write(json.dumps(make_asset(rng, vocab, index)) + "\n")


# queries
def _query_terms(rng: random.Random, vocab: Vocabulary, count: int, zipf: bool) -> list[str]:
    terms = []
    for _ in range(count):
        from_tags = rng.random() < 0.6
        if zipf and from_tags:
            terms.append(rng.choice(vocab.tags.draw(rng, 1)[0][0].split()))
        elif zipf:
            terms.append(vocab.words.draw(rng, 1)[0])
        else:
            terms.append(rng.choice(vocab.tag_words if from_tags else vocab.words.items))
    return terms


def _filters(rng: random.Random, vocab: Vocabulary) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if rng.random() < 0.15:
        filters["folder"] = "/".join(rng.choice(vocab.folders).split("/")[: rng.randint(1, 2)])
    if rng.random() < 0.10:
        filters["media_type"] = rng.choice(list(MediaType))
    if rng.random() < 0.10:
        filters["kinds"] = tuple(rng.sample(list(TagKind), rng.randint(1, 2)))
    if rng.random() < 0.05:
        filters["offset"] = rng.choice((20, 40, 100))
    return filters


def make_query(rng: random.Random, vocab: Vocabulary, index: int) -> BenchQuery:
    roll = rng.random()
    if roll < 0.03:
        return BenchQuery(SearchRequest("", **_filters(rng, vocab)), "browse")
    if roll < 0.04:
        return BenchQuery(SearchRequest("the of and"), "stop words")
    count = rng.choices((1, 2, 3, 4), weights=(40, 30, 20, 10))[0]
    text = " ".join(_query_terms(rng, vocab, count, zipf=index % 2 == 0))
    shape = {1: "1 term", 2: "2 terms"}.get(count, "3-4 terms")
    return BenchQuery(SearchRequest(text, **_filters(rng, vocab)), shape)


# measuring
def time_import(store: SqliteStore, library: Path) -> tuple[int, float, float]:
    """Assets imported, wall seconds, CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    with library.open(encoding="utf-8") as stream:
        report = import_jsonl(store, stream)
    return report.imported, time.perf_counter() - start, time.process_time() - cpu


def time_queries(
    store: SqliteStore, settings: Settings, queries: list[BenchQuery]
) -> Iterator[Timing]:
    for query in queries:
        start, cpu = time.perf_counter(), time.thread_time()
        result = search(store, query.request, settings)
        wall_ms = (time.perf_counter() - start) * 1000
        yield Timing(query, wall_ms, (time.thread_time() - cpu) * 1000, result["total"])


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def latency_line(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    figures = "  ".join(f"p{p}={percentile(ms, p):7.2f}" for p in (50, 95, 99))
    mean = sum(ms) / len(ms)
    return f"  {label:<12} n={len(ms):<5} {figures}  max={ms[-1]:7.2f}  mean={mean:6.2f}"


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def report_latency(timings: list[Timing]) -> None:
    print("search latency (ms, wall):")
    print(latency_line("all", [t.ms for t in timings]))
    for shape in ("browse", "1 term", "2 terms", "3-4 terms", "stop words"):
        subset = [t.ms for t in timings if t.query.shape == shape]
        if subset:
            print(latency_line(shape, subset))
    filtered = [t.ms for t in timings if t.query.filtered]
    if filtered:
        print(latency_line("filter/page", filtered))
    print("search CPU time (ms, this thread):")
    print(latency_line("all", [t.cpu_ms for t in timings]))
    print("hardest queries (wall):")
    for t in sorted(timings, key=lambda t: -t.ms)[:5]:
        print(f"  {t.ms:8.2f} ms  total={t.total:<7} {t.query.label()}")


def load_line() -> str:
    """Other work on the machine shows up in every figure: say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def run_size(size: int, queries: int, seed: int) -> None:
    rng = random.Random(seed)
    vocab = build_vocabulary(rng)
    with tempfile.TemporaryDirectory(prefix="smarttags-bench-") as tmp:
        library = Path(tmp) / "library.jsonl"
        write_library(library, random.Random(seed + size), vocab, size)
        settings = Settings(data_dir=Path(tmp) / "data")
        store = SqliteStore(settings)
        imported, seconds, cpu = time_import(store, library)
        print(f"== N = {size:,} ==  ({load_line()})")
        print(
            f"import: {imported:,} assets in {seconds:.1f} s = {imported / seconds:,.0f} assets/s"
            f" (CPU {cpu:.1f} s = {imported / cpu:,.0f} assets per CPU-second)"
        )
        print(f"database: {db_bytes(store.path) / 2**20:,.1f} MiB (file + WAL)")
        query_rng = random.Random(seed * 31 + 1)
        mix = [make_query(query_rng, vocab, i) for i in range(WARMUP + queries)]
        timings = list(time_queries(store, settings, mix))[WARMUP:]
        report_latency(timings)
        print(f"  ({load_line()})")
        store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for size in args.sizes:
        run_size(size, args.queries, args.seed)


if __name__ == "__main__":
    main()
