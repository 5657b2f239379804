"""Omnisearch on the embedded SQLite store against tantivy, on the same library and queries.

Prints figures only; it never passes or fails on time.

    .venv/bin/pip install -e ".[bench]"        # tantivy, the peer
    PYTHONPATH=. .venv/bin/python bench/search_latency.py                      # 100,000 assets
    PYTHONPATH=. .venv/bin/python bench/search_latency.py --sizes 1000000 --no-http

For each size: generate N assets (seeded, so every run sees the same library: 5-30
Zipf-distributed tags per asset from 2,000 names, metadata from 5,000 words) as a JSON Lines
file, and a mix of queries (1-4 terms from tag names and metadata words, half Zipf-weighted and
half uniform, some with folder, media-type or kind filters or a later page, a few browse and
stop-word queries). Then, for smarttags and for the peer (bench/tantivy_peer.py):
- import: `smarttags import FILE` as a user runs it (a process of its own), against the peer
  indexing the same file in process;
- in process: `query.service.search` (what the CLI calls) against the peer's searcher;
- HTTP: a real uvicorn server process per engine (`--workers`, default one per CPU), one
  keep-alive client one request at a time (latency), then several clients at once
  (searches/s and errors).
The first WARMUP queries are not counted; in-process figures are taken after gc.freeze(), as
a server process does (query/server.py). Wall times; the machine's load average is printed
alongside, since other work on a small machine moves wall times a lot.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import http_load
from catalog.analysis import STOP_WORDS, analyze
from catalog.asset import MediaType, TagKind
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from query.plan import SearchRequest
from query.server import freeze_heap
from query.service import search

META_WORDS = 5000
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
def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def latency_line(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    figures = "  ".join(f"p{p}={percentile(ms, p):7.2f}" for p in (50, 95, 99))
    mean = sum(ms) / len(ms)
    return f"  {label:<12} n={len(ms):<5} {figures}  max={ms[-1]:7.2f}  mean={mean:6.2f}"


def load_line() -> str:
    """Other work on the machine shows up in every figure: say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def rss_mib() -> float:
    """This process's resident memory now (Linux), else its peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def smarttags_command() -> list[str]:
    """The `smarttags` console script of this environment, as a user runs it."""
    script = Path(sys.executable).with_name("smarttags")
    if script.exists():
        return [str(script)]
    found = shutil.which("smarttags")
    if found is None:
        raise SystemExit("the smarttags command is not installed (pip install -e .)")
    return [found]


def time_cli_import(library: Path, data_dir: Path) -> float:
    """Seconds `smarttags import` takes, in a process of its own."""
    env = {**os.environ, "SMARTTAGS_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    subprocess.run(
        [*smarttags_command(), "import", str(library)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


@dataclass(frozen=True)
class Timing:
    query: BenchQuery
    ms: float
    cpu_ms: float  # this thread's CPU time: steadier than wall time on a shared machine
    total: str


def time_smarttags(store: SqliteStore, queries: list[BenchQuery]) -> Iterator[Timing]:
    for query in queries:
        start, cpu = time.perf_counter(), time.thread_time()
        result = search(store, query.request, store.settings)
        wall_ms = (time.perf_counter() - start) * 1000
        total = result["total"]
        label = f"{total['value']}{'+' if total['relation'] == 'gte' else ''}"
        yield Timing(query, wall_ms, (time.thread_time() - cpu) * 1000, label)


def peer_args(query: BenchQuery) -> dict[str, Any]:
    """The peer's form of a query (it has no kind filter)."""
    r = query.request
    media = r.media_type.value if r.media_type else None
    return {"text": r.text, "folder": r.folder, "media_type": media, "offset": r.offset}


def http_params(query: BenchQuery) -> dict[str, Any]:
    r = query.request
    params: dict[str, Any] = {"q": r.text, "folder": r.folder, "offset": r.offset or None}
    if r.media_type:
        params["type"] = r.media_type.value
    return params


def smarttags_paths(queries: list[BenchQuery]) -> list[str]:
    paths = []
    for query in queries:
        path = http_load.search_path(http_params(query))
        path += "".join(f"&kind={k.value}" for k in query.request.kinds)
        paths.append(path)
    return paths


def peer_paths(queries: list[BenchQuery]) -> list[str]:
    return [http_load.search_path(http_params(q)) for q in queries]


def report_shapes(timings: list[Timing]) -> None:
    print("smarttags in process by query shape (ms, wall):")
    print(latency_line("all", [t.ms for t in timings]))
    for shape in ("browse", "1 term", "2 terms", "3-4 terms", "stop words"):
        subset = [t.ms for t in timings if t.query.shape == shape]
        if subset:
            print(latency_line(shape, subset))
    filtered = [t.ms for t in timings if t.query.filtered]
    if filtered:
        print(latency_line("filter/page", filtered))
    print(latency_line("CPU (thread)", [t.cpu_ms for t in timings]))
    print("hardest queries (wall):")
    for t in sorted(timings, key=lambda t: -t.ms)[:5]:
        print(f"  {t.ms:8.2f} ms  total={t.total:<7} {t.query.label()}")


class Table:
    """Rows of (what, smarttags, peer) with the ratio smarttags / peer."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float | None, float | None, str]] = []

    def add(self, what: str, ours: float | None, peer: float | None, target: str = "") -> None:
        self.rows.append((what, ours, peer, target))

    def print(self) -> None:
        print(f"  {'':<30} {'smarttags':>11} {'tantivy':>11} {'ratio':>8}   target")
        for what, ours, peer, target in self.rows:
            ratio = f"{ours / peer:7.2f}x" if ours and peer else ""
            print(f"  {what:<30} {_figure(ours)} {_figure(peer)} {ratio:>8}   {target}")


def _figure(value: float | None) -> str:
    if value is None:
        return f"{'-':>11}"
    return f"{value:11,.0f}" if value >= 100 else f"{value:11.2f}"


def p50_p99(ms: list[float]) -> tuple[float, float]:
    ordered = sorted(ms)
    return percentile(ordered, 50), percentile(ordered, 99)


def run_size(size: int, args: argparse.Namespace, work: Path) -> None:
    rng = random.Random(args.seed)
    vocab = build_vocabulary(rng)
    library = work / f"library-{size}.jsonl"
    if not library.exists():
        write_library(library, random.Random(args.seed + size), vocab, size)
    query_rng = random.Random(args.seed * 31 + 1)
    mix = [make_query(query_rng, vocab, i) for i in range(WARMUP + args.queries)]
    measured = mix[WARMUP:]
    print(f"== {size:,} assets, {args.queries} queries ==  ({load_line()})")
    table = Table()

    data_dir = work / f"smarttags-{size}"
    shutil.rmtree(data_dir, ignore_errors=True)
    seconds = time_cli_import(library, data_dir)
    peer = None
    if not args.no_peer:
        from bench import tantivy_peer

        with library.open(encoding="utf-8") as lines:
            index, count, peer_seconds = tantivy_peer.build_index(lines, work / f"tantivy-{size}")
        peer = tantivy_peer.PeerSearch(index)
    table.add("import (assets/s)", size / seconds, peer and count / peer_seconds, ">= 5,000")

    settings = Settings(data_dir=data_dir)
    rss_before = rss_mib()
    store = SqliteStore(settings)
    start = time.perf_counter()
    index_stats = store.index_stats()
    load_s = time.perf_counter() - start
    rss_after = rss_mib()
    list(time_smarttags(store, mix[:WARMUP]))
    freeze_heap()  # as a server process does (query.server): the loaded heap is not rescanned
    timings = list(time_smarttags(store, measured))
    ours = p50_p99([t.ms for t in timings])
    theirs: tuple[float | None, float | None] = (None, None)
    if peer is not None:
        for query in mix[:WARMUP]:
            peer.search(**peer_args(query))
        peer_ms = []
        for query in measured:
            start = time.perf_counter()
            peer.search(**peer_args(query))
            peer_ms.append((time.perf_counter() - start) * 1000)
        theirs = p50_p99(peer_ms)
    table.add("in process p50 (ms)", ours[0], theirs[0], "<= 2")
    table.add("in process p99 (ms)", ours[1], theirs[1], "<= 10 and <= 5x tantivy")
    store.close()

    if not args.no_http:
        _http_rows(table, args, data_dir, work / f"tantivy-{size}", mix)
    table.print()
    print(
        f"  smarttags index: {index_stats['documents']:,} assets, {index_stats['postings']:,} "
        f"postings in {index_stats['segments']} segment(s), "
        f"{index_stats['bytes'] / 2**20:,.0f} MiB of arrays; built in {load_s:.1f} s; "
        f"process RSS {rss_before:,.0f} -> {rss_after:,.0f} MiB"
    )
    report_shapes(timings)
    print(f"  ({load_line()})")


def _http_rows(
    table: Table, args: argparse.Namespace, data_dir: Path, peer_dir: Path, mix: list[BenchQuery]
) -> None:
    engines = [
        ("smarttags", "query.server:create_app", {"SMARTTAGS_DATA_DIR": str(data_dir)}),
    ]
    if not args.no_peer:
        engines.append(
            ("tantivy", "bench.tantivy_peer:create_app", {"TANTIVY_PEER_INDEX": str(peer_dir)})
        )
    one: dict[str, tuple[float, float]] = {}
    many: dict[str, http_load.Throughput] = {}
    for name, app, env in engines:
        paths = smarttags_paths(mix) if name == "smarttags" else peer_paths(mix)
        env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        with http_load.uvicorn_server(app, env, args.workers, paths[0]) as address:
            http_load.latencies(address, paths[:WARMUP])
            one[name] = p50_p99(http_load.latencies(address, paths[WARMUP:]))
            many[name] = http_load.throughput(address, paths, args.clients, args.seconds)
    peer = "tantivy" if "tantivy" in one else None

    def pick(name: str | None, value) -> float | None:
        return value(name) if name else None

    table.add(
        "HTTP 1 client p50 (ms)", one["smarttags"][0], pick(peer, lambda n: one[n][0]), "<= 5"
    )
    table.add(
        "HTTP 1 client p99 (ms)", one["smarttags"][1], pick(peer, lambda n: one[n][1]), "<= 20"
    )
    table.add(
        f"HTTP {args.clients} clients (searches/s)",
        many["smarttags"].per_second,
        pick(peer, lambda n: many[n].per_second),
        ">= 300",
    )
    table.add(
        f"HTTP {args.clients} clients errors",
        float(many["smarttags"].errors),
        pick(peer, lambda n: float(many[n].errors)),
        "0",
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn workers")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load run")
    parser.add_argument("--no-http", action="store_true", help="in-process figures only")
    parser.add_argument("--no-peer", action="store_true", help="without tantivy")
    parser.add_argument("--work-dir", type=Path, help="keep the library and indices here")
    args = parser.parse_args(argv)
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            run_size(size, args, args.work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="smarttags-bench-") as tmp:
        for size in args.sizes:
            run_size(size, args, Path(tmp))


if __name__ == "__main__":
    main()
