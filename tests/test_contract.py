"""The ranking contract, run identically against every store (SQLite, osmem, real OpenSearch)."""

from __future__ import annotations

import functools
import random

import pytest

from catalog.asset import MediaType, TagKind
from catalog.tag_thresholds import TagThreshold, Thresholds, forget, kind_thresholds
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


# The cases below stress the embedded store's evaluation shortcuts (tier-by-tier evaluation,
# text levels of tier 1, capped counting, id-order tie breaks) against the reference ranking.

LIBRARY_WORDS = ["dog", "cat", "beach", "red", "car", "sunset", "woman", "running", "ice cream"]


@functools.cache
def _library(seed: int, size: int, prefix: str = "lib") -> list:
    """Many overlapping hits: few words, so tiers fill, scores tie and pages go deep."""
    rng = random.Random(seed)
    docs = []
    for i in range(size):
        pick = lambda k: rng.sample(LIBRARY_WORDS, k)  # noqa: E731
        folder = rng.choice(["a", "a/b", "a/b-2", "c", "c/d/e"])
        ext = rng.choice(["jpg", "mp4"])
        docs.append(
            asset(
                f"{prefix}{i:04d}",
                path=f"{folder}/f{i}.{ext}",
                title=" ".join(pick(rng.choice([0, 1, 1, 2]))),
                description=" ".join(pick(rng.randint(0, 2))),
                keywords=pick(rng.randint(0, 1)),
                smart_tags=[
                    tag(w, rng.choice([0.5, 0.7, 0.75, 0.9, 0.9, 1.0]), rng.choice(KINDS))
                    for w in pick(rng.randint(0, 3))
                ],
                manual_tags=pick(rng.choice([0, 0, 0, 1])),
                promoted_tags=pick(rng.choice([0, 0, 0, 1])),
                removed_tags=pick(rng.choice([0, 0, 0, 0, 1])),
                created_at=f"2025-03-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
            )
        )
    return docs


KINDS = ["object", "action", "custom"]


def _reference(
    corpus, request: SearchRequest, settings, learned: dict[str, float] | None = None
) -> tuple[list, int]:
    """(id, tier, score, fields, tags) of every hit in rank order, per query.ranking.explain,
    under the kind thresholds and the `learned` per-tag ones."""
    plan = build_plan(request, settings, Thresholds(kind_thresholds(settings), learned or {}))
    found = []
    for doc in corpus:
        if plan.folder and not (
            doc.folder == plan.folder or doc.folder.startswith(plan.folder + "/")
        ):
            continue
        if plan.media_type and doc.media_type.value != plan.media_type:
            continue
        if plan.browse:  # newest first, then by id
            found.append((-doc.created_at.timestamp(), doc.id, None, [], []))
            continue
        match = explain(doc, plan, settings.weight_quantum)
        if match.tier is not None:
            tags = [(m.tag, m.kind, m.source, m.weight) for m in match.tags]
            found.append((-match.score, doc.id, match.tier, list(match.fields), tags))
    found.sort()
    if plan.browse:
        return [(i, None, 0.0, [], []) for _, i, *_ in found], len(found)
    return [(i, t, -s, f, g) for s, i, t, f, g in found], len(found)


def _as_reference(hit: dict) -> tuple:
    tags = [(m["tag"], m["kind"], m["source"], m["weight"]) for m in hit["matched"]["tags"]]
    return (hit["id"], hit["tier"], hit["score"], hit["matched"]["metadata"], tags)


def _assert_like_reference(
    store, corpus, request: SearchRequest, learned: dict[str, float] | None = None
) -> None:
    expected, count = _reference(corpus, request, store.settings, learned)
    got = search(store, request, store.settings)
    page = expected[request.offset : request.offset + (request.limit or 20)]
    assert [_as_reference(h) for h in got["hits"]] == page, request
    cap = store.settings.max_exact_total
    relation = "gte" if count > cap else "eq"
    assert got["total"] == {"value": min(count, cap), "relation": relation}, request


REQUESTS = [
    SearchRequest("dog", limit=7),
    SearchRequest("dog", offset=140, limit=50),
    SearchRequest("red car", limit=30),
    SearchRequest("red car", offset=35, limit=20),
    SearchRequest("ice cream sunset", limit=40),
    SearchRequest("running woman dog", offset=10, limit=25),
    SearchRequest("cat beach", folder="a", limit=30),
    SearchRequest("dog", folder="a/b", limit=100),
    SearchRequest("car", media_type=MediaType.video, limit=15, offset=5),
    SearchRequest("sunset woman", kinds=(TagKind.action,), limit=30),
    SearchRequest("cream", kinds=(TagKind.custom, TagKind.object), limit=30),
    SearchRequest("beach", folder="c", media_type=MediaType.image, limit=10),
    SearchRequest("", folder="a", limit=12, offset=3),
    SearchRequest("nothing here", limit=5),
]


@pytest.fixture
def library(store):
    corpus = _library(11, 300)
    store.upsert_many(corpus)
    return corpus


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.text}|{r.offset}|{r.limit}")
def test_many_hits_deep_pages_and_filters_agree_with_the_reference(store, library, request_):
    _assert_like_reference(store, library, request_)


def test_paging_through_every_hit_gives_the_reference_order(store, library):
    expected, count = _reference(library, SearchRequest("dog cat", limit=200), store.settings)
    paged = []
    for offset in range(0, count + 9, 9):
        got = search(store, SearchRequest("dog cat", offset=offset, limit=9), store.settings)
        paged += [h["id"] for h in got["hits"]]
    assert paged == [e[0] for e in expected]


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_object_confidence": 0.72, "min_action_confidence": 0.95},
        {"min_custom_confidence": 0.4, "promote_boost": 3.5},
        {"max_exact_total": 25},
    ],
)
def test_settings_applied_at_query_time_agree_with_the_reference(make_store, overrides):
    store = make_store(**overrides)
    corpus = _library(5, 150)
    store.upsert_many(corpus)
    for request_ in REQUESTS[:8]:
        _assert_like_reference(store, corpus, request_)


def test_totals_are_exact_up_to_the_cap_then_a_lower_bound(make_store):
    store = make_store(max_exact_total=10)
    store.upsert_many([asset(f"d{i:02d}", smart_tags=[tag("dog", 0.8)]) for i in range(10)])
    store.upsert_many([asset(f"c{i:02d}", title="cat", manual_tags=["cat"]) for i in range(11)])
    assert run(store, "dog")["total"] == {"value": 10, "relation": "eq"}
    assert run(store, "cat")["total"] == {"value": 10, "relation": "gte"}
    assert run(store, "dog cat")["total"] == {"value": 10, "relation": "gte"}
    assert run(store, "")["total"] == {"value": 10, "relation": "gte"}
    assert run(store, "", folder="lib")["total"]["relation"] == "gte"
    assert ids(store, "cat", offset=8, limit=2) == ["c08", "c09"]


def test_ties_are_broken_by_the_whole_id_beyond_its_first_bytes(store):
    # equal scores, ids that share their first 20 characters, written out of order
    names = [f"campaign-2024-summer-{n}" for n in ("b", "a2", "a10", "a", "c", "a1", "b0")]
    store.upsert_many([asset(n, smart_tags=[tag("dog", 0.8)]) for n in names])
    store.upsert_many([asset("zz-top", title="dog")])
    ordered = sorted(names)
    assert ids(store, "dog") == ["zz-top", *ordered]
    assert ids(store, "dog", offset=2, limit=3) == ordered[1:4]
    assert ids(store, "", limit=3) == ["zz-top", *reversed(names)][:3]


def test_tier1_ranks_its_text_levels_then_tags_when_it_fills_the_page(store):
    store.upsert_many(
        [asset(f"t{i:02d}", title="dog", smart_tags=[tag("dog", 0.7 + i / 100)]) for i in range(30)]
        + [asset(f"k{i:02d}", keywords=["dog"]) for i in range(30)]
        + [asset(f"g{i:02d}", smart_tags=[tag("dog", 0.99)]) for i in range(30)]
    )
    got = run(store, "dog", limit=5)
    assert [h["id"] for h in got["hits"]] == ["t29", "t28", "t27", "t26", "t25"]
    assert got["total"]["value"] == 90
    page = run(store, "dog", offset=28, limit=4)["hits"]
    assert [(h["id"], h["tier"]) for h in page] == [("t01", 1), ("t00", 1), ("k00", 1), ("k01", 1)]
    assert ids(store, "dog", offset=60, limit=2) == ["g00", "g01"]


def test_a_filter_that_removes_most_candidates(store):
    store.upsert_many(
        [asset(f"a{i:03d}", path=f"big/{i}.jpg", title="dog") for i in range(200)]
        + [asset(f"s{i}", path=f"small/{i}.mp4", smart_tags=[tag("dog", 0.9)]) for i in range(3)]
    )
    got = run(store, "dog", folder="small")
    assert [h["id"] for h in got["hits"]] == ["s0", "s1", "s2"]
    assert got["total"] == {"value": 3, "relation": "eq"}
    assert run(store, "dog", media_type=MediaType.video)["total"]["value"] == 3


# learned per-tag thresholds: a machine tag needs its own threshold where one is learned

OVERLAPPING = ["dog", "hot dog", "car", "red car", "race car", "cat", "ice cream", "cream", "red"]
LEARNED = {"hot dog": 0.95, "car": 0.4, "red car": 0.9, "cream": 0.55, "dog": 1.00390625}


def _learn(store, learned: dict[str, float]) -> None:
    store.save_tag_thresholds(
        [
            TagThreshold(tag=name, kind="object", threshold=value, positives=5, negatives=7)
            for name, value in learned.items()
        ]
    )
    forget(store)


def test_a_learned_threshold_replaces_the_kind_threshold_of_its_tag(store):
    store.upsert_many(
        [
            asset("both", smart_tags=[tag("red car", 0.8), tag("car", 0.45)]),
            asset("strong", smart_tags=[tag("red car", 0.92)]),
            asset("weak", smart_tags=[tag("car", 0.41)]),
            asset("off", smart_tags=[tag("dog", 0.99)]),
            asset("manual", smart_tags=[tag("dog", 0.99)], manual_tags=["dog"]),
        ]
    )
    _learn(store, {"red car": 0.9, "car": 0.4, "dog": 1.00390625})
    # "both": its best tag holding "car" (red car 0.8) is under its own threshold, the weaker
    # "car" (0.45) over its own: the weaker one counts
    hits = run(store, "car")["hits"]
    assert [h["id"] for h in hits] == ["strong", "both", "weak"]
    assert [m["tag"] for m in hits[1]["matched"]["tags"]] == ["car"]
    assert ids(store, "dog") == ["manual"]  # a learned threshold never touches curated tags
    hits = search(store, SearchRequest("car"), store.settings, with_tags=True)["hits"]
    listing = {r["tag"]: r for r in hits[1]["tags"]}
    assert listing["red car"]["suggested"] and listing["red car"]["threshold"] == 0.9
    assert not listing["car"]["suggested"] and listing["car"]["threshold"] == 0.4


@functools.cache
def _overlapping_library(seed: int, size: int) -> list:
    """Tags that share words on one asset, so a weaker tag can count where a stronger fails."""
    rng = random.Random(seed)
    docs = []
    for i in range(size):
        names = rng.sample(OVERLAPPING, rng.randint(0, 4))
        docs.append(
            asset(
                f"o{i:04d}",
                path=f"{rng.choice(['a', 'a/b', 'c'])}/f{i}.{rng.choice(['jpg', 'mp4'])}",
                title=" ".join(rng.sample(OVERLAPPING, rng.choice([0, 0, 1]))),
                smart_tags=[
                    tag(n, rng.choice([0.3, 0.42, 0.5, 0.6, 0.7, 0.8, 0.9, 0.96, 1.0]), kind)
                    for n in names
                    for kind in rng.sample(KINDS, rng.choice([1, 1, 2]))
                ],
                manual_tags=rng.sample(OVERLAPPING, rng.choice([0, 0, 0, 1])),
                removed_tags=rng.sample(OVERLAPPING, rng.choice([0, 0, 0, 0, 1])),
            )
        )
    return docs


LEARNED_REQUESTS = [
    SearchRequest("car", limit=50),
    SearchRequest("red car", offset=5, limit=40),
    SearchRequest("hot dog", limit=60),
    SearchRequest("ice cream cat", limit=30),
    SearchRequest("dog", kinds=(TagKind.object, TagKind.custom), limit=50),
    SearchRequest("cream red", folder="a", limit=50),
    SearchRequest("race car dog", media_type=MediaType.video, limit=25, offset=3),
]


@pytest.mark.parametrize("request_", LEARNED_REQUESTS, ids=lambda r: f"{r.text}|{r.offset}")
def test_learned_thresholds_agree_with_the_reference_on_every_backend(store, request_):
    corpus = _overlapping_library(3, 250)
    store.upsert_many(corpus)
    _assert_like_reference(store, corpus, request_)  # kind thresholds alone first
    _learn(store, LEARNED)
    _assert_like_reference(store, corpus, request_, LEARNED)
