"""Index rebuilds under load: searches never fail or change, writes made meanwhile survive."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

import pytest

from catalog.asset import Asset
from catalog.audit import ModerationAction
from catalog.curation import moderate
from catalog.opensearch_store import OpenSearchStore
from catalog.sqlite_store import SqliteStore
from catalog.store import RebuildReport
from query.plan import SearchRequest, build_plan
from query.service import run_plan
from tests.backends import make_settings, unique_index

LIBRARY_SIZE = 1_000
BULK_CHUNK = 50  # many small bulk requests: the rebuild lasts long enough to overlap
QUERIES = ["dog", "red car", "beach", "running", "cat sky"]
WORDS = ["dog", "red", "car", "beach", "sunset", "cat", "lake", "city", "forest", "river"]
WORDS += ["snow", "mountain", "bridge", "train", "boat", "market", "garden", "night", "rain"]
WORDS += ["desert", "harbor", "street", "tower", "field", "horse", "bird", "flower", "road"]
TAGS = [(n, "object") for n in ["dog", "car", "sky", "tree", "bicycle", "people", "water"]]
TAGS += [(n, "action") for n in ["running", "swimming", "dancing", "cooking"]]
TAGS += [(f"other{i}", "object") for i in range(12)]  # most assets match no query's tag
MARK = "rebuild mark"  # a manual tag no query matches: results must not move
HELD_WRITES = 5  # moderations made while the rebuild waits (OpenSearch: before the swap)
LATER_WRITES = 10
NEW_ASSETS = 6
WRITE_TIMEOUT_S = 30


def library() -> list[Asset]:
    assets = []
    for i in range(LIBRARY_SIZE):
        name, kind = TAGS[i % len(TAGS)]
        title = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 3 + 1) % len(WORDS)]}"
        smart_tags = [{"tag": name, "kind": kind, "confidence": 0.7 + (i % 30) / 100}]
        assets.append(
            Asset.model_validate(
                {
                    "id": f"a{i:04d}",
                    "path": f"lib/{i % 7}/a{i:04d}.jpg",
                    "media_type": "image",
                    "title": title,
                    "smart_tags": smart_tags,
                }
            )
        )
    return assets


def snapshot(store) -> dict[str, tuple[int, list[tuple[str, float]]]]:
    found = {}
    for text in QUERIES:
        page = run_plan(store, build_plan(SearchRequest(text), store.settings))
        found[text] = (page.total, [(h.asset.id, h.score) for h in page.hits])
    return found


@dataclass
class SearchLoop:
    """Runs the queries over and over in a thread; records what differed from `expected`."""

    store: object
    expected: dict
    rounds: int = 0
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)  # set after each round

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                got = snapshot(self.store)
            except Exception as exc:
                self.problems.append(f"search failed: {exc!r}")
                return
            self.problems += [
                f"{q!r} changed ({got[q][0]} hits)" for q in got if got[q] != self.expected[q]
            ]
            self.rounds += 1
            self.answered.set()


@dataclass
class Writer:
    """Moderates distinct assets and adds new ones while the rebuild runs."""

    store: object
    started: threading.Event = field(default_factory=threading.Event)
    held_done: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            self.started.wait(WRITE_TIMEOUT_S)
            for i in range(HELD_WRITES):
                self.mark(i)
            self.held_done.set()
            for i in range(HELD_WRITES, HELD_WRITES + LATER_WRITES):
                self.mark(i)
            for i in range(NEW_ASSETS):
                self.store.upsert_many([new_asset(i)])
        except BaseException as exc:
            self.errors.append(exc)
            self.held_done.set()

    def mark(self, i: int) -> None:
        moderate(self.store, f"a{i:04d}", ModerationAction.add, MARK, "writer", retries=50)


def new_asset(i: int) -> Asset:
    return Asset.model_validate(
        {"id": f"new-{i}", "path": f"new/{i}.jpg", "media_type": "image", "title": "Zebra"}
    )


def rebuild_under_load(store, hold: bool) -> RebuildReport:
    """Rebuild while searches loop and a writer writes. The first progress call waits for a
    round of searches to be answered, and (`hold`) for the writer's first writes, so that they
    happen while the rebuild is copying."""
    store.upsert_many(library())
    loop = SearchLoop(store, snapshot(store))
    assert all(total for total, _ in loop.expected.values())
    writer = Writer(store)

    def progress(done: int, total: int) -> None:
        if writer.started.is_set():
            return
        writer.started.set()
        loop.answered.clear()
        assert loop.answered.wait(WRITE_TIMEOUT_S)
        if hold:
            assert writer.held_done.wait(WRITE_TIMEOUT_S)

    threads = [threading.Thread(target=loop.run), threading.Thread(target=writer.run)]
    for thread in threads:
        thread.start()
    try:
        report = store.rebuild_index(progress)
    finally:
        writer.started.set()
        threads[1].join(WRITE_TIMEOUT_S)
        loop.stop.set()
        threads[0].join(WRITE_TIMEOUT_S)
    assert writer.errors == []
    assert loop.problems == []
    assert loop.rounds > 0
    assert snapshot(store) == loop.expected
    assert_writes_present(store)
    return report


def assert_writes_present(store) -> None:
    for i in range(HELD_WRITES + LATER_WRITES):
        assert MARK in store.get(f"a{i:04d}").manual_tags, i
    assert all(store.get(f"new-{i}") is not None for i in range(NEW_ASSETS))
    page = run_plan(store, build_plan(SearchRequest("zebra", limit=100), store.settings))
    assert page.total == NEW_ASSETS
    assert store.count() == LIBRARY_SIZE + NEW_ASSETS


@pytest.fixture
def opensearch(osmem_clone, tmp_path):
    settings = make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url=osmem_clone.url,
        opensearch_index=unique_index(),
        opensearch_backoff_s=0.01,
        opensearch_bulk_chunk=BULK_CHUNK,
    )
    store = OpenSearchStore(settings)
    yield store
    store.close()


@pytest.fixture
def sqlite(tmp_path):
    store = SqliteStore(make_settings(tmp_path))
    yield store
    store.close()


def test_opensearch_rebuild_serves_searches_throughout_and_catches_up(opensearch):
    report = rebuild_under_load(opensearch, hold=True)
    alias = opensearch.alias
    assert report.new == f"{alias}-v2" and report.old == [f"{alias}-v1"]
    assert report.documents >= LIBRARY_SIZE
    assert report.caught_up >= HELD_WRITES  # moderated after the copy had passed them
    assert opensearch.current_indices() == [report.new]
    assert set(opensearch.versioned_indices()) == {report.new, *report.old}


def test_opensearch_keeps_the_old_index_until_dropped_and_counts_versions_on(opensearch):
    opensearch.upsert_many(library()[:100])
    before = snapshot(opensearch)
    first = opensearch.rebuild_index()
    assert set(opensearch.versioned_indices()) == {first.new, *first.old}
    assert opensearch.drop_old_indices() == first.old
    assert set(opensearch.versioned_indices()) == {first.new}
    second = opensearch.rebuild_index()
    assert second.new == f"{opensearch.alias}-v3" and second.old == [first.new]
    assert snapshot(opensearch) == before
    assert opensearch.drop_old_indices() == [first.new]
    assert opensearch.drop_old_indices() == []


def tag_it(store, asset_id: str, name: str) -> None:
    moderate(store, asset_id, ModerationAction.add, name, "writer", retries=5)


def test_opensearch_catch_up_copies_late_writes_but_not_over_newer_ones(opensearch):
    """Writes at each step of a rebuild, all in the same second as the copy (updated_at can
    not tell them apart)."""
    opensearch.upsert_many(library()[:10])
    swap = opensearch.swap_alias

    def write_during_copy(done: int, total: int) -> None:
        tag_it(opensearch, "a0001", "during copy")  # old index, after a0001 was copied
        opensearch.upsert_many([new_asset(0)])  # old index, after the scan passed its id

    def write_around_swap(index: str) -> list[str]:
        tag_it(opensearch, "a0002", "before swap")  # old index, after the first catch-up
        left = swap(index)
        tag_it(opensearch, "a0001", "after swap")  # new index: must not be overwritten
        return left

    opensearch.swap_alias = write_around_swap
    report = opensearch.rebuild_index(write_during_copy)
    assert set(opensearch.get("a0001").manual_tags) == {"during copy", "after swap"}
    assert opensearch.get("a0002").manual_tags == ["before swap"]
    assert opensearch.get("new-0") is not None
    assert report.caught_up == 3
    assert opensearch.count() == 11


def test_sqlite_rebuild_serves_searches_throughout_and_writes_a_backup(sqlite):
    # a writer waits for the rebuild's transaction, so nothing is held for it
    report = rebuild_under_load(sqlite, hold=False)
    assert report.new == f"sqlite:{sqlite.path}" and report.old == []
    assert report.documents >= LIBRARY_SIZE
    backup = sqlite3.connect(report.backup)
    try:  # a complete database, written before the rebuild began
        assert backup.execute("SELECT COUNT(*) FROM postings").fetchone()[0] > 0
        assert backup.execute("SELECT COUNT(*) FROM assets").fetchone()[0] == LIBRARY_SIZE
    finally:
        backup.close()
    assert sqlite.drop_old_indices() == []


def fail(done: int, total: int) -> None:
    raise RuntimeError("disk on fire")


def test_opensearch_failed_rebuild_leaves_the_alias_and_no_new_index(opensearch):
    opensearch.upsert_many(library()[:60])
    before = snapshot(opensearch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        opensearch.rebuild_index(fail)
    assert set(opensearch.versioned_indices()) == {f"{opensearch.alias}-v1"}
    assert snapshot(opensearch) == before
    assert opensearch.rebuild_index().new == f"{opensearch.alias}-v2"


def test_sqlite_failed_rebuild_changes_nothing(sqlite):
    sqlite.upsert_many(library()[:60])
    before = snapshot(sqlite)
    with pytest.raises(RuntimeError, match="disk on fire"):
        sqlite.rebuild_index(fail)
    assert snapshot(sqlite) == before
