"""`reindex --retag` against `reindex --full` on the same assets: how much faster re-tagging is.

Prints figures only; it never passes or fails on time.

    PYTHONPATH=. .venv/bin/python bench/reindex_speed.py
    PYTHONPATH=. .venv/bin/python bench/reindex_speed.py --model ViT-B-32 --copies 3

The library is the generated sample library (`smarttags sample-library`), copied `--copies`
times so there are enough assets to time; the model is a random-weight open_clip
architecture (real cost, meaningless tags). Both modes run through `indexer.reprocess` on one
SQLite catalog, after a first `index` that fills the embedding cache and embeds the
vocabularies (not timed). Each mode runs `--rounds` times; the best round counts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from catalog.settings import Settings
from catalog.stores import open_store
from indexer.engine import TaggingEngine
from indexer.pipeline import IndexRun
from indexer.random_model import write_random_model
from indexer.reprocess import Mode, Reprocess, Selection
from indexer.samples import BROKEN, make_sample_library
from indexer.scan import scan


def _library(root: Path, copies: int) -> Path:
    source = root / "source"
    make_sample_library(source)
    (source / BROKEN).unlink()
    library = root / "library"
    for n in range(copies):
        shutil.copytree(source, library / f"copy{n}")
    return library


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config, checkpoint = write_random_model(args.model, root / "model")
        settings = Settings(data_dir=root / "data", model=str(config), pretrained=str(checkpoint))
        library = _library(root, args.copies)
        store = open_store(settings)
        engine = TaggingEngine(settings)
        first = IndexRun(settings, store, engine).run(scan([library], None))
        assets = first.tagged
        times: dict[str, float] = {}
        for mode in (Mode.full, Mode.retag):
            run = Reprocess(settings, store, engine, mode)
            times[mode.value] = min(
                _timed(lambda run=run: run.run(Selection())) for _ in range(args.rounds)
            )
        store.close()
    full, retag = times["full"], times["retag"]
    print(f"model {args.model} (random weights), {assets} assets, best of {args.rounds} rounds")
    print(f"{'mode':8s} {'seconds':>9s} {'ms/asset':>9s}")
    for mode, seconds in times.items():
        print(f"{mode:8s} {seconds:9.2f} {1000 * seconds / assets:9.1f}")
    print(f"retag is {full / retag:.1f}x faster than full (target: at least 20x)")


if __name__ == "__main__":
    main()
