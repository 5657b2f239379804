"""The embedded store's in-memory term index kept in step with the SQLite file: writes of
other store instances (other processes in production) are seen by the next search."""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from catalog.asset import TagKind
from catalog.sqlite_store import SqliteStore
from query.plan import SearchRequest, build_plan
from query.ranking import explain
from query.service import search
from tests.backends import make_settings
from tests.fixtures import asset, tag


def ids(store, text="", **kw):
    return [h["id"] for h in search(store, SearchRequest(text, **kw), store.settings)["hits"]]


def expected_ids(store, corpus, text, **kw):
    plan = build_plan(SearchRequest(text, **kw), store.settings)
    scored = []
    for doc in corpus:
        match = explain(doc, plan, store.settings.weight_quantum)
        if match.tier is not None:
            scored.append((-match.score, doc.id))
    return [i for _, i in sorted(scored)][: plan.limit]


@pytest.fixture
def pair(tmp_path):
    """Two stores on one file: a writer and a reader that has built its index already."""
    writer = SqliteStore(make_settings(tmp_path))
    reader = SqliteStore(make_settings(tmp_path))
    writer.upsert_many([asset("old", title="lake", smart_tags=[tag("dog", 0.9)])])
    assert ids(reader, "dog") == ["old"]
    yield writer, reader
    writer.close()
    reader.close()


def test_another_instances_insert_update_and_delete_are_seen_by_the_next_search(pair):
    writer, reader = pair
    writer.upsert_many([asset("new", title="dog"), asset("gone", smart_tags=[tag("dog", 0.8)])])
    assert ids(reader, "dog") == ["new", "old", "gone"]
    changed = writer.get("old").model_copy(update={"removed_tags": ["dog"], "title": "a dog"})
    writer.upsert_many([changed])
    assert ids(reader, "dog") == ["new", "old", "gone"]  # tier 1 by title now
    assert search(reader, SearchRequest("dog"), reader.settings)["hits"][1]["matched"] == {
        "metadata": ["title"],
        "tags": [],
    }
    assert writer.delete("gone")
    assert ids(reader, "dog") == ["new", "old"]
    assert ids(reader, "lake") == []
    assert ids(reader, "") == ["new", "old"]


def test_a_compare_and_set_write_is_seen_by_another_instance(pair):
    writer, reader = pair
    current = writer.read("old")
    assert writer.replace(
        current.asset.model_copy(update={"manual_tags": ["cat"]}), current.version
    )
    assert ids(reader, "cat") == ["old"]


def test_a_reader_left_behind_the_pruned_change_log_rebuilds(tmp_path):
    writer = SqliteStore(make_settings(tmp_path, sqlite_change_log_keep=3))
    reader = SqliteStore(make_settings(tmp_path, sqlite_change_log_keep=3))
    writer.upsert_many([asset("first", title="dog")])
    assert ids(reader, "dog") == ["first"]
    for i in range(10):
        writer.upsert_many([asset(f"n{i}", title="dog")])
    writer.delete("first")
    assert ids(reader, "dog", limit=50) == [f"n{i}" for i in range(10)]
    writer.close()
    reader.close()


def test_many_small_writes_keep_few_segments_and_exact_results(tmp_path):
    settings = make_settings(tmp_path, index_max_segments=3, index_merge_factor=2)
    writer, reader = SqliteStore(settings), SqliteStore(settings)
    rng = random.Random(3)
    words = ["dog", "cat", "sun", "sea", "red"]
    corpus = {}
    for i in range(60):
        doc = asset(
            f"d{rng.randint(0, 30):02d}",  # some writes replace earlier ones
            title=" ".join(rng.sample(words, 2)),
            smart_tags=[tag(rng.choice(words), rng.choice([0.6, 0.8, 0.95]))],
        )
        writer.upsert_many([doc])
        corpus[doc.id] = doc
        if i % 7 == 0:
            writer.delete(f"d{rng.randint(0, 30):02d}")
            corpus = {k: v for k, v in corpus.items() if writer.get(k) is not None}
        assert ids(reader, "dog sun", limit=100) == expected_ids(
            reader, corpus.values(), "dog sun", limit=100
        )
        assert reader.index_stats()["segments"] <= 3
    assert reader.index_stats()["documents"] == len(corpus) == writer.count()
    writer.close()
    reader.close()


def test_an_index_rebuild_elsewhere_is_picked_up(pair):
    writer, reader = pair
    writer.upsert_many([asset("kind", smart_tags=[tag("dog", 0.95, "action")])])
    assert ids(reader, "dog", kinds=(TagKind.action,)) == ["kind"]
    writer.rebuild_index()
    assert ids(reader, "dog") == ["kind", "old"]
    assert ids(reader, "dog", kinds=(TagKind.action,)) == ["kind"]


def test_a_reused_rowid_takes_the_id_order_of_its_new_asset(tmp_path):
    store = SqliteStore(make_settings(tmp_path))
    store.upsert_many([asset(i, smart_tags=[tag("dog", 0.8)]) for i in ("b", "d", "z")])
    assert ids(store, "dog") == ["b", "d", "z"]
    store.delete("z")  # the highest rowid: the next insert reuses it
    store.upsert_many([asset("a", smart_tags=[tag("dog", 0.8)])])
    assert ids(store, "dog") == ["a", "b", "d"]
    store.close()


def test_readers_in_threads_run_while_another_instance_writes(tmp_path):
    writer = SqliteStore(make_settings(tmp_path))
    reader = SqliteStore(make_settings(tmp_path))
    writer.upsert_many([asset(f"base{i}", title="dog") for i in range(50)])
    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                found = search(reader, SearchRequest("dog", limit=200), reader.settings)
                hits = [h["id"] for h in found["hits"]]
                if len(hits) != found["total"]["value"] or len(set(hits)) != len(hits):
                    problems.append(f"inconsistent page: {found['total']} vs {len(hits)}")
            except Exception as exc:  # recorded, asserted below
                problems.append(repr(exc))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(40):
        writer.upsert_many([asset(f"w{i:02d}", smart_tags=[tag("dog", 0.9)])])
    done.set()
    for thread in threads:
        thread.join(30)
    assert problems == []
    assert len(ids(reader, "dog", limit=200)) == 90
    writer.close()
    reader.close()


def test_a_saved_index_is_mapped_by_the_next_process_and_caught_up(tmp_path):
    settings = make_settings(tmp_path, index_cache_min_assets=1)
    writer = SqliteStore(settings)
    writer.upsert_many([asset(f"a{i}", title="dog") for i in range(20)])
    first = SqliteStore(settings)
    assert len(ids(first, "dog", limit=50)) == 20  # built, then saved beside the database
    saved = list((tmp_path / "data" / "smarttags.db.index").iterdir())
    assert len(saved) == 1
    writer.upsert_many([asset("late", smart_tags=[tag("dog", 0.9)])])
    writer.delete("a0")
    second = SqliteStore(settings)
    found = ids(second, "dog", limit=50)
    assert found == [*sorted(f"a{i}" for i in range(1, 20)), "late"]
    assert not second._index._snap.segments[0].meta_doc.flags.writeable  # a read-only map
    for store in (writer, first, second):
        store.close()


def test_a_saved_index_is_not_used_by_a_database_restored_from_a_backup(tmp_path):
    settings = make_settings(tmp_path, index_cache_min_assets=1)
    writer = SqliteStore(settings)
    writer.upsert_many([asset("kept", title="dog")])
    backup = tmp_path / "backup.db"
    with sqlite3.connect(backup) as copy:
        writer._conn().backup(copy)
    copy.close()
    writer.upsert_many([asset("lost", title="dog")])
    assert ids(SqliteStore(settings), "dog") == ["kept", "lost"]  # saves its index
    writer.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.sqlite_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, settings.sqlite_path)
    assert ids(SqliteStore(settings), "dog") == ["kept"]


def test_a_saved_index_is_not_used_after_an_index_rebuild(tmp_path):
    settings = make_settings(tmp_path, index_cache_min_assets=1)
    writer = SqliteStore(settings)
    writer.upsert_many([asset("a", smart_tags=[tag("dog", 0.8)])])
    assert ids(SqliteStore(settings), "dog") == ["a"]
    writer.rebuild_index()
    reader = SqliteStore(settings)
    assert ids(reader, "dog") == ["a"]
    assert reader._index._snap.segments[0].meta_doc.flags.writeable  # built, not mapped
