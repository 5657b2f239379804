"""The embedded store's semantic stage: tier 4 after the term tiers, semantic mode and search
by example, over real SQLite files, checked against a brute-force reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from catalog.asset import MediaType
from catalog.sqlite_store import SqliteStore
from catalog.store import SemanticStage, StoreError
from catalog.vectors import CLEAR_VECTORS
from query.plan import SearchRequest, build_plan
from query.service import run_plan
from tests.backends import make_settings
from tests.fixtures import asset, tag
from tests.vector_fixtures import example_query, text_query, unit, vectors

FLOOR = 0.5
NORTH, EAST, WEST = unit(1.0), unit(0.0, 1.0), unit(0.0, 0.0, 1.0)


@pytest.fixture
def store(tmp_path):
    opened = SqliteStore(make_settings(tmp_path))
    yield opened
    opened.close()


def put(store, item, vecs=None) -> None:
    assert store.replace(item, None, vecs)


def run(store, stage: SemanticStage, text: str = "", **kw):
    plan = replace(build_plan(SearchRequest(text, **kw), store.settings), semantic=stage)
    return run_plan(store, plan)


def hybrid(query, floor=FLOOR) -> SemanticStage:
    return SemanticStage(query=query, floor=floor, after_terms=True)


def semantic(query, floor=FLOOR, exclude=None) -> SemanticStage:
    return SemanticStage(query=query, floor=floor, after_terms=False, exclude=exclude)


@pytest.fixture
def library(store):
    """Term matches for "dog", and assets only similar to NORTH in meaning."""
    put(store, asset("title-dog", title="dog"), vectors(EAST))
    put(store, asset("tag-dog", smart_tags=[tag("dog", 0.9)]), vectors(WEST))
    put(store, asset("near", title="puppy"), vectors(unit(1.0, 0.05)))
    put(store, asset("nearer", title="hound", path="pets/hound.mp4"), vectors(NORTH))
    put(store, asset("far", title="car"), vectors(EAST))
    put(store, asset("no-vectors", title="kitten"))
    put(store, asset("dog-and-north", title="dog house"), vectors(NORTH))
    return store


def test_tier_four_follows_the_term_tiers_with_only_unmatched_similar_assets(library):
    page = run(library, hybrid(text_query(NORTH)), "dog")
    ids = [h.asset.id for h in page.hits]
    assert ids == ["dog-and-north", "title-dog", "tag-dog", "nearer", "near"]
    terms = run_plan(library, build_plan(SearchRequest("dog"), library.settings))
    assert [(h.asset.id, h.score) for h in page.hits[:3]] == [
        (h.asset.id, h.score) for h in terms.hits
    ]
    tier4 = page.hits[3:]
    assert all(h.score == 0.0 and h.similarity is not None for h in tier4)
    assert tier4[0].similarity > tier4[1].similarity >= FLOOR
    assert all(h.similarity is None for h in page.hits[:3])
    assert page.total.value == 5


def test_the_floor_is_a_confidence_on_the_tag_scale(library):
    # cos 1 with median 0 and spread 0.1: z = 10, far above; EAST: z = 0, confidence 0.007
    everything = run(library, semantic(text_query(NORTH), floor=0.0))
    assert {h.asset.id for h in everything.hits} == {
        "title-dog", "tag-dog", "near", "nearer", "far", "dog-and-north"
    }
    east = next(h for h in everything.hits if h.asset.id == "far")
    assert east.similarity == pytest.approx(1 / (1 + np.exp(3.5 / 0.7)), rel=1e-4)
    floored = run(library, semantic(text_query(NORTH), floor=0.5))
    assert {h.asset.id for h in floored.hits} == {"near", "nearer", "dog-and-north"}


def test_semantic_mode_ranks_by_similarity_alone_and_filters_apply(library):
    page = run(library, semantic(text_query(NORTH), floor=0.0), "dog")
    assert page.hits[0].asset.id in {"nearer", "dog-and-north"}
    assert [h.score for h in page.hits] == [h.similarity for h in page.hits]
    videos = run(library, semantic(text_query(NORTH), floor=0.0), media_type=MediaType.video)
    assert [h.asset.id for h in videos.hits] == ["nearer"]
    in_pets = run(library, semantic(text_query(NORTH), floor=0.0), folder="pets")
    assert [h.asset.id for h in in_pets.hits] == ["nearer"]
    assert run(library, semantic(text_query(NORTH), floor=0.0), folder="lib").total.value == 5


def test_by_example_ranks_by_cosine_and_leaves_the_example_out(library):
    page = run(library, semantic(example_query(NORTH), floor=None, exclude="nearer"))
    ids = [h.asset.id for h in page.hits]
    assert ids[:2] == ["dog-and-north", "near"]
    assert "nearer" not in ids and "no-vectors" not in ids
    assert page.hits[0].similarity == pytest.approx(1.0, abs=1e-3)


def test_ties_go_to_the_smaller_id(store):
    for name in ("b", "a", "c"):
        put(store, asset(name), vectors(NORTH))
    page = run(store, semantic(example_query(NORTH), floor=None))
    assert [h.asset.id for h in page.hits] == ["a", "b", "c"]


def test_vectors_of_another_model_are_not_compared(store):
    put(store, asset("mine"), vectors(NORTH))
    put(store, asset("theirs"), vectors(NORTH, model="other"))
    page = run(store, semantic(example_query(NORTH), floor=None))
    assert [h.asset.id for h in page.hits] == ["mine"]
    assert store.vector_count("test-model") == 1 and store.vector_count("other") == 1


def test_pages_across_the_tier_boundary_are_slices_of_one_ranking(library):
    stage = hybrid(text_query(NORTH), floor=0.0)
    whole = [h.asset.id for h in run(library, stage, "dog", limit=50).hits]
    assert len(whole) == 6
    for offset in range(7):
        for limit in (1, 2, 3):
            page = run(library, stage, "dog", offset=offset, limit=limit)
            assert [h.asset.id for h in page.hits] == whole[offset : offset + limit]
            assert page.total.value == 6


def test_video_hits_carry_their_frames_scored(store):
    frames = [EAST, EAST, NORTH, NORTH]
    put(store, asset("clip", path="v/clip.mp4"), vectors(unit(1.0, 1.0), frames))
    (hit,) = run(store, semantic(example_query(NORTH), floor=None)).hits
    assert hit.frames is not None
    assert list(hit.frames.starts) == [0.0, 1.0, 2.0, 3.0]
    assert np.argmax(hit.frames.scores) >= 2


def test_moderation_and_metadata_writes_keep_vectors_and_clear_drops_them(store):
    put(store, asset("a", title="x"), vectors(NORTH))
    current = store.read("a")
    changed = current.asset.model_copy(update={"removed_tags": ["x"]})
    assert store.replace(changed, current.version)  # a moderation: no vectors given
    store.upsert_many([asset("a", title="renamed")])  # an import of metadata
    assert store.read_vectors("a") is not None
    current = store.read("a")
    assert store.replace(current.asset, current.version, CLEAR_VECTORS)
    assert store.read_vectors("a") is None
    assert run(store, semantic(example_query(NORTH), floor=None)).hits == []


def test_another_instances_vectors_are_seen_by_the_next_search(tmp_path):
    writer = SqliteStore(make_settings(tmp_path))
    reader = SqliteStore(make_settings(tmp_path))
    try:
        put(writer, asset("first"), vectors(EAST))
        assert [h.asset.id for h in run(reader, semantic(example_query(NORTH), None)).hits] == [
            "first"
        ]
        put(writer, asset("second"), vectors(NORTH))
        current = writer.read("first")
        assert writer.replace(current.asset, current.version, vectors(unit(1.0, 0.5)))
        got = run(reader, semantic(example_query(NORTH), None)).hits
        assert [h.asset.id for h in got] == ["second", "first"]
        assert writer.delete("second")
        assert [h.asset.id for h in run(reader, semantic(example_query(NORTH), None)).hits] == [
            "first"
        ]
    finally:
        writer.close()
        reader.close()


def test_rebuild_index_rebuilds_the_vector_index_from_the_table(library, tmp_path):
    before = [h.asset.id for h in run(library, hybrid(text_query(NORTH)), "dog").hits]
    library.rebuild_index()
    other = SqliteStore(make_settings(tmp_path))
    try:
        for store in (library, other):
            after = [h.asset.id for h in run(store, hybrid(text_query(NORTH)), "dog").hits]
            assert after == before
    finally:
        other.close()


def test_many_writes_match_a_brute_force_reference(store):
    rng = np.random.default_rng(7)
    kept: dict[str, np.ndarray] = {}
    for round_ in range(6):
        for i in rng.choice(200, 40, replace=False):
            name = f"a{i:03d}"
            direction = rng.normal(size=8).astype(np.float32)
            direction /= np.linalg.norm(direction)
            if rng.random() < 0.15 and name in kept:
                store.delete(name)
                kept.pop(name)
                continue
            put_or_replace(store, name, direction)
            kept[name] = direction
        query = unit(*rng.normal(size=8))
        page = run(store, semantic(example_query(query), None), limit=25)
        expected = sorted(kept, key=lambda n: (-float(kept[n] @ query), n))[:25]
        assert [h.asset.id for h in page.hits] == expected, round_
        assert page.total.value == len(kept)


def put_or_replace(store, name, direction):
    current = store.read(name)
    item = asset(name) if current is None else current.asset
    assert store.replace(item, current.version if current else None, vectors(direction))


def test_frame_vectors_live_in_their_own_file_and_can_be_lost(tmp_path):
    settings = make_settings(tmp_path)
    store = SqliteStore(settings)
    put(store, asset("clip", path="v/clip.mp4"), vectors(NORTH, [EAST, NORTH]))
    frames_file = store.frames_path
    assert frames_file.is_file() and frames_file.name == "smarttags.db.frames"
    in_main = "SELECT COUNT(*) FROM main.sqlite_master WHERE name = 'frame_vectors'"
    assert store._conn().execute(in_main).fetchone()[0] == 0
    store.close()
    for leftover in tmp_path.glob("data/smarttags.db.frames*"):
        leftover.unlink()  # lost: derived data, written again by the next re-tag
    store = SqliteStore(settings)
    try:
        (hit,) = run(store, semantic(example_query(NORTH), floor=None)).hits
        assert hit.asset.id == "clip" and hit.frames is None
    finally:
        store.close()


def test_a_damaged_frames_file_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path)
    SqliteStore(settings).close()
    frames_file = settings.sqlite_path.with_name("smarttags.db.frames")
    for leftover in tmp_path.glob("data/smarttags.db.frames-*"):
        leftover.unlink()
    frames_file.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="reindex"):
        SqliteStore(settings)
