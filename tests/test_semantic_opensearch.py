"""Semantic search on OpenSearch: the requests it sends (no server needed), vectors written,
kept and copied through osmem (which stores knn_vector fields but answers no k-NN query), and
the searches themselves on a real cluster, where one is configured, against the SQLite store."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from catalog.asset import MediaType
from catalog.opensearch_store import OpenSearchStore, load_mapping
from catalog.opensearch_vectors import (
    asset_field,
    cosine_of_score,
    frames_request,
    read_frames,
    vector_fields,
    vectors_from_source,
)
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from catalog.store import SemanticStage
from catalog.stores import open_store
from catalog.vectors import CLEAR_VECTORS
from query import dsl, dsl_semantic
from query.plan import SearchRequest, build_plan
from query.service import run_plan
from tests.backends import make_settings, unique_index
from tests.fixtures import asset, tag
from tests.vector_fixtures import example_query, text_query, unit, vectors

NORTH, EAST = unit(1.0, dim=512), unit(0.0, 1.0, dim=512)


def plan_with(settings: Settings, stage: SemanticStage, text: str = "", **request):
    return replace(build_plan(SearchRequest(text, **request), settings), semantic=stage)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path)


# --- request building -------------------------------------------------------------------


def test_hybrid_keeps_the_term_tiers_and_adds_tier_four_below_them(settings):
    stage = SemanticStage(text_query(NORTH), floor=0.6, after_terms=True)
    plan = plan_with(settings, stage, "dog running", folder="a/b")
    body = dsl_semantic.compile_plan(plan).body
    keyword = dsl.compile_plan(plan).body
    should = body["query"]["bool"]["should"]
    assert should[:-1] == keyword["query"]["bool"]["should"]
    assert body["query"]["bool"]["filter"] == keyword["query"]["bool"]["filter"]
    tier4 = should[-1]["script_score"]
    scale = dsl_semantic.tier4_scale(plan)
    assert scale == 2.0**-9  # weight quantum 256: tier-3 scores are >= 2**-8
    assert tier4["min_score"] == pytest.approx(0.6 * scale)
    params = tier4["script"]["params"]
    assert params["field"] == asset_field(512) and params["weight"] == scale
    assert (params["center"], params["scale"]) == (3.5, 0.7)
    assert len(params["query_value"]) == 512
    scope = tier4["query"]["bool"]
    assert {"term": {"vector_model": "test-model"}} in scope["filter"]
    # no term matches: not every term in the metadata, and no term in an eligible tag
    assert scope["must_not"][0] == dsl._all_terms_in_metadata(plan)
    assert len(scope["must_not"]) == 1 + len(plan.terms)


def test_hybrid_reads_tier_four_scores_as_similarities(settings):
    plan = plan_with(settings, SemanticStage(text_query(NORTH), 0.5, True), "dog")
    semantic = dsl_semantic.compile_plan(plan).semantic
    scale = dsl_semantic.tier4_scale(plan)
    assert semantic.similarity_of(0.8 * scale) == pytest.approx(0.8)
    assert semantic.similarity_of(1 / 256) is None  # the smallest tier-3 score
    assert not semantic.replaces_score


def test_semantic_mode_scores_the_confidence_over_the_filtered_assets(settings):
    stage = SemanticStage(text_query(NORTH), floor=0.5, after_terms=False)
    body = dsl_semantic.compile_plan(
        plan_with(settings, stage, "dog", media_type=MediaType.video, limit=7, offset=3)
    ).body
    script_score = body["query"]["script_score"]
    assert script_score["min_score"] == 0.5
    assert {"term": {"media_type": "video"}} in script_score["query"]["bool"]["filter"]
    assert (body["from"], body["size"], body["sort"][0]) == (3, 7, {"_score": "desc"})


def test_by_example_is_a_filtered_knn_query_without_the_example(settings):
    stage = SemanticStage(example_query(NORTH), floor=None, after_terms=False, exclude="a1")
    compiled = dsl_semantic.compile_plan(
        plan_with(settings, stage, folder="x", limit=10, offset=20)
    )
    knn = compiled.body["query"]["knn"][asset_field(512)]
    assert knn["k"] == 30
    scope = knn["filter"]["bool"]
    assert scope["must_not"] == [{"ids": {"values": ["a1"]}}]
    assert {"term": {"vector_model": "test-model"}} in scope["filter"]
    assert compiled.semantic.knn and compiled.semantic.replaces_score
    assert compiled.semantic.similarity_of(1.75) == pytest.approx(0.75)


@pytest.mark.parametrize("cosine", [-0.9, -0.2, 0.0, 0.3, 1.0])
def test_knn_scores_of_the_inner_product_turn_back_into_cosines(cosine):
    score = cosine + 1 if cosine > 0 else 1 / (1 - cosine)
    assert cosine_of_score(score) == pytest.approx(cosine)


def test_the_confidence_script_computes_what_the_embedded_store_does():
    """The script's arithmetic, replayed: logistic of the z-score, times the weight."""
    query = text_query(NORTH)
    cosine, median, spread = 0.31, 0.18, 0.02
    z = (cosine - median) / spread
    script = 1.0 / (1.0 + math.exp((query.center - z) / query.scale))
    assert float(query.confidences(z)) == pytest.approx(script)


def test_moments_ask_every_frame_of_the_page_videos_with_their_times():
    body = frames_request(["v1", "v2"], text_query(NORTH), 600)
    nested = body["query"]["nested"]
    knn = nested["query"]["knn"]["frames.vector_512"]
    assert knn["expand_nested_docs"] is True and knn["k"] == 2
    assert {"ids": {"values": ["v1", "v2"]}} in knn["filter"]["bool"]["filter"]
    assert nested["inner_hits"]["size"] == 600
    assert "frames.start_s" in nested["inner_hits"]["fields"]


def test_frame_answers_read_back_in_time_order():
    def frame(start, score):
        fields = {
            "frames.start_s": [start],
            "frames.end_s": [start + 1],
            "frames.median": [0.0],
            "frames.spread": [0.1],
        }
        return {"_score": score, "fields": fields}

    response = {
        "hits": {"hits": [{"_id": "v", "inner_hits": {"frames": {"hits": {"hits": [
            frame(2.0, 2.0), frame(0.0, 1.1)
        ]}}}}]}
    }  # fmt: skip
    got = read_frames(response, example_query(NORTH))["v"]
    assert list(got.starts) == [0.0, 2.0]
    assert got.scores == pytest.approx([0.1, 1.0])


def test_vector_fields_round_trip_through_the_source():
    original = vectors(NORTH, [NORTH, EAST])
    back = vectors_from_source(vector_fields(original))
    assert back.model_id == original.model_id and back.dim == 512
    assert np.allclose(back.vector, original.vector)
    assert np.allclose(back.frames.astype(np.float32), original.frames.astype(np.float32))
    assert list(back.starts) == list(original.starts)


# --- osmem: vectors written, kept, copied -----------------------------------------------


@pytest.fixture
def os_store(osmem_clone, tmp_path):
    opened = open_store(
        make_settings(
            tmp_path,
            backend="opensearch",
            opensearch_url=osmem_clone.url,
            opensearch_index=unique_index(),
        )
    )
    yield opened
    opened.close()


def test_vectors_are_written_kept_by_other_writes_and_cleared(os_store):
    assert os_store.replace(asset("a", title="x"), None, vectors(NORTH, [NORTH, EAST]))
    assert os_store.vector_count("test-model") == 1
    current = os_store.read("a")
    assert os_store.replace(current.asset.model_copy(update={"title": "y"}), current.version)
    os_store.upsert_many([asset("a", title="z")])
    kept = os_store.read_vectors("a")
    assert kept is not None and np.allclose(kept.vector, NORTH) and len(kept.frames) == 2
    current = os_store.read("a")
    assert os_store.replace(current.asset, current.version, CLEAR_VECTORS)
    assert os_store.read_vectors("a") is None


def test_a_write_that_keeps_vectors_still_refuses_a_stale_version(os_store):
    assert os_store.replace(asset("a"), None, vectors(NORTH))
    stale = os_store.read("a")
    assert os_store.replace(stale.asset.model_copy(update={"title": "first"}), stale.version)
    assert not os_store.replace(stale.asset.model_copy(update={"title": "late"}), stale.version)


def test_another_dimension_gets_its_fields_on_first_use(os_store):
    small = unit(1.0, dim=8)
    assert os_store.replace(asset("s"), None, vectors(small))
    mapping = os_store.client.indices.get_mapping(index=os_store.alias)
    (held,) = mapping.values()
    assert held["mappings"]["properties"][asset_field(8)]["dimension"] == 8
    assert os_store.read_vectors("s").dim == 8


def test_rebuild_index_copies_the_vectors(os_store):
    assert os_store.replace(asset("a"), None, vectors(NORTH))
    assert os_store.replace(asset("b"), None, vectors(unit(1.0, dim=8)))
    report = os_store.rebuild_index()
    assert report.documents == 2
    assert np.allclose(os_store.read_vectors("a").vector, NORTH)
    assert os_store.read_vectors("b").dim == 8


def test_an_index_made_before_vectors_keeps_working_and_says_how_to_get_them(
    osmem_clone, tmp_path
):
    settings = make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url=osmem_clone.url,
        opensearch_index=unique_index(),
    )
    store = OpenSearchStore(settings)
    body = load_mapping()  # made into mapping 2, as a release before semantic search made it
    del body["settings"]["index"]["knn"]
    props = body["mappings"]["properties"]
    for name in ("vector_model", "asset_vector_512", "vector_median", "vector_spread", "frames"):
        props.pop(name)
    store.client.indices.create(index=f"{settings.opensearch_index}-v1", body=body)
    store.client.indices.put_alias(index=f"{settings.opensearch_index}-v1", name=store.alias)
    try:
        assert store.replace(asset("a", title="dog"), None, vectors(NORTH))
        assert store.get("a").title == "dog"
        assert store.read_vectors("a") is None
        assert "reindex --rebuild-index" in store._vectors_off
        fields = store.client.indices.get_mapping(index=store.alias)
        (held,) = fields.values()
        assert "frames" in held["mappings"]["properties"]  # the fields without knn were added
        assert asset_field(512) not in held["mappings"]["properties"]
        store.rebuild_index()
        current = store.read("a")
        assert store.replace(current.asset, current.version, vectors(NORTH))
        assert store.read_vectors("a") is not None
    finally:
        store.close()


# --- a real cluster: the searches themselves, against the embedded store -----------------


def _library(store) -> None:
    rng = np.random.default_rng(3)
    for i in range(30):
        direction = unit(*rng.normal(size=6), dim=512)
        path = f"{'clips' if i % 3 else 'stills'}/a{i:02d}.{'mp4' if i % 2 else 'jpg'}"
        frames = [direction, unit(*rng.normal(size=6), dim=512)] if i % 2 else None
        item = asset(
            f"a{i:02d}",
            path=path,
            title="dog" if i % 5 == 0 else "",
            smart_tags=[tag("dog", 0.9)] if i % 7 == 0 else [],
        )
        assert store.replace(item, None, vectors(direction, frames, spread=0.05))


@pytest.mark.opensearch
def test_semantic_searches_rank_as_the_embedded_store_does(real_opensearch, tmp_path):
    cluster = open_store(
        make_settings(
            tmp_path / "os",
            backend="opensearch",
            opensearch_url=real_opensearch,
            opensearch_index=unique_index(),
        )
    )
    embedded = SqliteStore(make_settings(tmp_path / "sqlite"))
    try:
        _library(cluster)
        _library(embedded)
        query = unit(1.0, 0.5, -0.3, dim=512)
        stages = [
            (SemanticStage(text_query(query), 0.0, after_terms=True), "dog"),
            (SemanticStage(text_query(query), 0.2, after_terms=False), ""),
            (SemanticStage(example_query(query), None, after_terms=False, exclude="a01"), ""),
        ]
        for stage, text in stages:
            for store in (cluster, embedded):
                plan = plan_with(store.settings, stage, text, limit=10)
                page = run_plan(store, plan)
                if store is cluster:
                    got = [(h.asset.id, h.similarity is None) for h in page.hits]
                else:
                    assert got == [(h.asset.id, h.similarity is None) for h in page.hits]
        videos = [
            h
            for h in run_plan(cluster, plan_with(cluster.settings, stages[2][0])).hits
            if h.asset.media_type is MediaType.video
        ]
        assert videos and all(h.frames is not None and len(h.frames.scores) == 2 for h in videos)
    finally:
        cluster.close()
        embedded.close()
