"""The ranking contract, run identically against every store (SQLite, osmem, real OpenSearch)."""

from __future__ import annotations

import random

import pytest

from catalog.asset import MediaType, TagKind
from query.plan import InvalidQuery, SearchRequest, build_plan
from query.ranking import explain
from query.service import search
from tests.fixtures import asset, tag


def run(store, text="", **kw):
    return search(store, SearchRequest(text, **kw), store.settings)


def ids(store, text="", **kw):
    return [h["id"] for h in run(store, text, **kw)["hits"]]


def tiers(store, text="", **kw):
    return {h["id"]: h["tier"] for h in run(store, text, **kw)["hits"]}


@pytest.fixture
def classic(store):
    store.upsert_many(
        [
            asset("meta", title="Woman running on the beach"),
            asset("meta-split", title="Portrait of a woman", keywords=["running"]),
            asset(
                "tags-both",
                title="Beach day",
                smart_tags=[tag("woman", 0.8), tag("running", 0.9, "action")],
            ),
            asset("tags-one", title="Track", smart_tags=[tag("running", 0.95, "action")]),
            asset("meta-one-only", title="A woman smiling"),
            asset("nothing", title="Mountain lake", smart_tags=[tag("lake", 0.9)]),
        ]
    )
    return store


def test_woman_running_across_all_three_tiers(classic):
    got = tiers(classic, "woman running")
    assert got == {"meta": 1, "meta-split": 1, "tags-both": 2, "tags-one": 3}
    assert ids(classic, "woman running")[2:] == ["tags-both", "tags-one"]


def test_one_term_in_metadata_and_no_tag_is_not_returned(classic):
    assert "meta-one-only" not in ids(classic, "woman running")


def test_cross_field_and_matches_terms_in_different_fields(classic):
    hit = next(h for h in run(classic, "woman running")["hits"] if h["id"] == "meta-split")
    assert hit["tier"] == 1
    assert set(hit["matched"]["metadata"]) == {"title", "keywords"}


def test_file_name_is_a_metadata_field(store):
    store.upsert_many([asset("f", path="shoots/sunset_harbor.mp4")])
    assert tiers(store, "harbor sunset") == {"f": 1}


def test_stemming_applies_to_query_metadata_and_tags(store):
    store.upsert_many(
        [
            asset("t", title="Runners"),
            asset("g", smart_tags=[tag("running", 0.9, "action")]),
        ]
    )
    assert set(ids(store, "run")) == {"g"}
    assert tiers(store, "runs") == {"g": 2}  # one term, matched by a tag: tier 2
    assert tiers(store, "runner") == {"t": 1}


def test_tag_tiers_order_by_confidence(store):
    store.upsert_many([asset(f"c{c}", smart_tags=[tag("dog", c / 100)]) for c in (71, 99, 85)])
    assert ids(store, "dog") == ["c99", "c85", "c71"]


def test_manual_tag_ranks_above_any_smart_tag(store):
    store.upsert_many(
        [
            asset("smart", smart_tags=[tag("dog", 0.99)]),
            asset("manual", manual_tags=["dog"]),
        ]
    )
    assert ids(store, "dog") == ["manual", "smart"]
    hit = run(store, "dog")["hits"][0]
    assert hit["matched"]["tags"][0]["weight"] == 1.0


def test_promoted_tag_ranks_above_manual(store):
    store.upsert_many(
        [
            asset("manual", manual_tags=["dog"]),
            asset("promoted", promoted_tags=["dog"], smart_tags=[tag("dog", 0.75)]),
            asset("smart", smart_tags=[tag("dog", 0.9)]),
        ]
    )
    assert ids(store, "dog") == ["promoted", "manual", "smart"]
    assert run(store, "dog")["hits"][0]["matched"]["tags"][0]["weight"] == 2.0


def test_promote_boost_is_a_setting(make_store):
    store = make_store(promote_boost=3.0)
    store.upsert_many([asset("p", promoted_tags=["dog"]), asset("m", manual_tags=["dog"])])
    hits = run(store, "dog")["hits"]
    assert [h["id"] for h in hits] == ["p", "m"]
    assert hits[0]["matched"]["tags"][0]["weight"] == 3.0


def test_removed_tags_never_match(store):
    store.upsert_many(
        [
            asset("removed", smart_tags=[tag("dog", 0.95)], removed_tags=["dog"]),
            asset("removed-manual", manual_tags=["cat"], removed_tags=["Cat"]),
            asset("kept", smart_tags=[tag("dog", 0.8)]),
        ]
    )
    assert ids(store, "dog") == ["kept"]
    assert ids(store, "cat") == []


def test_below_threshold_smart_tags_never_match(store):
    store.upsert_many(
        [
            asset("low", smart_tags=[tag("dog", 0.69)]),
            asset("edge", smart_tags=[tag("dog", 0.7)]),
            asset("low-action", smart_tags=[tag("jumping", 0.5, "action")]),
        ]
    )
    assert ids(store, "dog") == ["edge"]
    assert ids(store, "jumping") == []


def test_thresholds_are_settings_applied_at_query_time(make_store):
    store = make_store(min_object_confidence=0.5, min_action_confidence=0.9)
    store.upsert_many(
        [
            asset("o", smart_tags=[tag("dog", 0.6)]),
            asset("a", smart_tags=[tag("dog", 0.85, "action")]),
        ]
    )
    assert ids(store, "dog") == ["o"]


def test_promoted_tag_counts_even_when_its_machine_confidence_is_low(store):
    store.upsert_many([asset("p", smart_tags=[tag("dog", 0.3)], promoted_tags=["dog"])])
    assert tiers(store, "dog") == {"p": 2}


def test_multi_word_tags_match_each_of_their_words(store):
    store.upsert_many(
        [
            asset("ice", smart_tags=[tag("ice cream", 0.8)]),
            asset("cone", smart_tags=[tag("cream", 0.9), tag("cone", 0.9)]),
        ]
    )
    assert tiers(store, "ice cream") == {"ice": 2, "cone": 3}
    top = run(store, "ice cream")["hits"][0]
    assert [m["tag"] for m in top["matched"]["tags"]] == ["ice cream"]
    tier2_base = 8  # the power of two above 2 terms x promote boost 2.0
    assert top["score"] == tier2_base + 2 * round(0.8 * 256) / 256
    assert ids(store, "cream") == ["cone", "ice"]


def test_duplicate_query_words_count_once(store):
    store.upsert_many([asset("d", smart_tags=[tag("dog", 0.8)])])
    assert run(store, "dog dogs DOG")["hits"][0]["score"] == run(store, "dog")["hits"][0]["score"]


def test_tier1_orders_by_text_relevance_then_tag_score(store):
    store.upsert_many(
        [
            asset("desc", description="a dog in the park"),
            asset("title", title="Dog"),
            asset("title-tagged", title="Dog", smart_tags=[tag("dog", 0.9)]),
            asset("kw", keywords=["dog"]),
        ]
    )
    assert ids(store, "dog") == ["title-tagged", "title", "kw", "desc"]


def test_ties_are_broken_by_id(store):
    store.upsert_many([asset(i, smart_tags=[tag("dog", 0.8)]) for i in ("b2", "a1", "c3")])
    assert ids(store, "dog") == ["a1", "b2", "c3"]


def test_folder_filter_includes_subfolders(store):
    store.upsert_many(
        [
            asset("top", path="campaigns/summer/a.jpg", title="dog"),
            asset("deep", path="campaigns/summer/day1/b.jpg", title="dog"),
            asset("other", path="campaigns/winter/c.jpg", title="dog"),
        ]
    )
    assert set(ids(store, "dog", folder="campaigns/summer")) == {"top", "deep"}
    assert set(ids(store, "dog", folder="/campaigns/summer/")) == {"top", "deep"}
    assert set(ids(store, "dog", folder="campaigns")) == {"top", "deep", "other"}


def test_folder_filter_does_not_match_a_sibling_with_the_same_prefix(store):
    store.upsert_many(
        [
            asset("s", path="campaigns/summer/a.jpg", title="dog"),
            asset("s2020", path="campaigns/summer-2020/b.jpg", title="dog"),
            asset("s2020b", path="campaigns/summer2020/b.jpg", title="dog"),
        ]
    )
    assert ids(store, "dog", folder="campaigns/summer") == ["s"]


def test_media_type_filter_applies_to_every_tier(store):
    store.upsert_many(
        [
            asset("v", path="x/v.mp4", title="dog"),
            asset("i", path="x/i.jpg", title="dog"),
            asset("vt", path="x/t.mp4", smart_tags=[tag("dog", 0.9)]),
        ]
    )
    assert set(ids(store, "dog", media_type=MediaType.video)) == {"v", "vt"}
    assert ids(store, "dog", media_type=MediaType.image) == ["i"]


def test_kind_filter_narrows_which_tags_match_but_not_metadata(store):
    store.upsert_many(
        [
            asset("obj", smart_tags=[tag("surfing", 0.9, "object")]),
            asset("act", smart_tags=[tag("surfing", 0.8, "action")]),
            asset("manual", manual_tags=["surfing"]),
            asset("meta", title="Surfing lessons"),
        ]
    )
    got = tiers(store, "surfing", kinds=(TagKind.action,))
    assert got == {"meta": 1, "act": 2}
    assert "manual" in ids(store, "surfing", kinds=(TagKind.custom,))


def test_manual_tag_takes_the_kind_of_the_machine_tag_of_that_name(store):
    store.upsert_many([asset("m", smart_tags=[tag("dog", 0.2)], manual_tags=["dog"])])
    assert ids(store, "dog", kinds=(TagKind.object,)) == ["m"]
    assert ids(store, "dog", kinds=(TagKind.action,)) == []


def test_empty_query_browses_newest_first_with_filters(store):
    store.upsert_many(
        [
            asset("old", path="a/old.jpg"),
            asset("mid", path="b/mid.mp4"),
            asset("new", path="a/new.jpg"),
        ]
    )
    result = run(store, "")
    assert [h["id"] for h in result["hits"]] == ["new", "mid", "old"]
    assert result["total"]["value"] == 3
    assert ids(store, "  ", folder="a") == ["new", "old"]
    assert ids(store, "", media_type=MediaType.video) == ["mid"]


def test_pagination_is_complete_and_stable(store):
    store.upsert_many(
        [asset(f"a{i:02d}", smart_tags=[tag("dog", 0.7 + (i % 5) / 20)]) for i in range(23)]
        + [asset(f"t{i}", title="dog") for i in range(4)]
    )
    whole = ids(store, "dog", limit=100)
    assert len(whole) == 27
    paged = []
    for offset in range(0, 30, 7):
        page = run(store, "dog", limit=7, offset=offset)
        assert page["total"]["value"] == 27
        paged += [h["id"] for h in page["hits"]]
    assert paged == whole


def test_offset_past_the_end_keeps_the_total(store):
    store.upsert_many([asset("a", title="dog"), asset("b", title="dog")])
    page = run(store, "dog", offset=10, limit=5)
    assert page["hits"] == [] and page["total"]["value"] == 2


def test_unicode_accents_and_scripts(store):
    store.upsert_many(
        [
            asset("cafe", title="Café crème in Zürich"),
            asset("jp", title="東京 夜景", smart_tags=[tag("ネオン", 0.9)]),
        ]
    )
    assert ids(store, "cafe CREME zurich") == ["cafe"]
    assert ids(store, "東京") == ["jp"]
    assert ids(store, "ネオン") == ["jp"]


def test_punctuation_in_queries_and_tags(store):
    store.upsert_many(
        [
            asset("p", title="The woman's T-shirt", smart_tags=[tag("t-shirt", 0.9)]),
        ]
    )
    assert tiers(store, "woman's") == {"p": 1}
    assert tiers(store, "t-shirt!!!") == {"p": 1}
    assert ids(store, "...shirt???") == ["p"]


HOSTILE = [
    '"run* AND (woman OR NEAR(a b))" ^ : - + {title}:x',
    '{"query": {"match_all": {}}} \\ / * ? ~ [ ] < > =',
    "'; DROP TABLE assets; --",
    '" OR 1=1 --',
    "title:dog AND NOT cat",
    "\x00\x01\x7f \ufffd",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_gets_a_bounded_answer(classic, text):
    result = run(classic, text)
    assert result["total"]["value"] <= 6
    assert run(classic, "woman running")["total"]["value"] == 4  # nothing was damaged


def test_a_10000_character_query_is_answered_with_a_notice(classic):
    result = run(classic, "woman running " * 714)  # 9,996 characters
    assert result["total"]["value"] == 4
    result = run(classic, " ".join(f"word{i}" for i in range(2000))[:10_000])
    assert result["total"]["value"] == 0
    assert any("first 16" in n for n in result["notices"])


def test_a_query_over_the_limit_is_refused_clearly(classic):
    with pytest.raises(InvalidQuery, match="longer than"):
        run(classic, "x" * 10_001)


def test_stop_words_only_answers_nothing_with_a_notice(classic):
    result = run(classic, "the of and")
    assert result["total"]["value"] == 0 and result["hits"] == []
    assert "stop words" in result["notices"][0]


def test_upsert_replaces_tags_and_keeps_creation_time(store):
    first = asset("a", smart_tags=[tag("dog", 0.9)])
    store.upsert_many([first])
    store.upsert_many([first.model_copy(update={"smart_tags": []})])
    assert ids(store, "dog") == []
    assert store.get("a").created_at == first.created_at


def test_deleted_assets_are_not_found(store):
    store.upsert_many([asset("a", title="dog"), asset("b", title="dog")])
    assert store.delete("a") is True
    assert store.delete("a") is False
    assert ids(store, "dog") == ["b"]
    assert store.count() == 1


def _random_corpus(rng: random.Random) -> list:
    words = ["dog", "cat", "beach", "running", "red", "car", "ice cream", "sunset", "woman"]
    kinds = ["object", "action", "custom"]
    docs = []
    for i in range(60):
        pick = lambda k: rng.sample(words, k)  # noqa: E731
        docs.append(
            asset(
                f"r{i:02d}",
                path=f"{rng.choice(['a', 'a/b', 'c'])}/f{i}.jpg",
                title=" ".join(pick(rng.randint(0, 2))),
                description=" ".join(pick(rng.randint(0, 3))),
                keywords=pick(rng.randint(0, 2)),
                smart_tags=[
                    tag(w, round(rng.random(), 3), rng.choice(kinds))
                    for w in pick(rng.randint(0, 4))
                ],
                manual_tags=pick(rng.randint(0, 1)),
                promoted_tags=pick(rng.randint(0, 1)),
                removed_tags=pick(rng.randint(0, 1)),
            )
        )
    return docs


def test_every_backend_agrees_with_the_reference_ranking(store):
    rng = random.Random(7)
    corpus = _random_corpus(rng)
    store.upsert_many(corpus)
    queries = ["dog", "red car", "ice cream sunset", "running woman dog", "cat beach", "cream"]
    for text in queries:
        for folder, kinds in ((None, ()), ("a", ()), (None, (TagKind.action, TagKind.custom))):
            request = SearchRequest(text, folder=folder, kinds=kinds, limit=100)
            plan = build_plan(request, store.settings)
            expected = []
            for doc in corpus:
                if folder and not (doc.folder == folder or doc.folder.startswith(folder + "/")):
                    continue
                match = explain(doc, plan, store.settings.weight_quantum)
                if match.tier is not None:
                    expected.append((-match.score, doc.id, match.tier))
            expected.sort()
            got = search(store, request, store.settings)["hits"]
            assert [(h["id"], h["tier"], h["score"]) for h in got] == [
                (i, t, -s) for s, i, t in expected
            ], (text, folder, kinds)
