"""Request building: the OpenSearch body compiled from a query plan (no server needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog.asset import MediaType, TagKind
from catalog.settings import Settings
from query.dsl import compile_plan, eligible_tag
from query.plan import SearchRequest, build_plan


def dsl_body(plan):
    compiled = compile_plan(plan)
    return None if compiled is None else compiled.body


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path)


def plan_for(settings: Settings, text: str = "", **request: Any):
    return build_plan(SearchRequest(text, **request), settings)


def walk(node: Any):
    """Every (key, value) pair of a nested JSON body."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def clauses(body: dict) -> list[dict]:
    return body["query"]["bool"]["should"]


def test_matches_nothing_compiles_to_none(settings):
    assert dsl_body(plan_for(settings, "the of and")) is None


def test_browse_is_match_all_newest_first(settings):
    body = dsl_body(plan_for(settings, limit=5, offset=10))
    assert body == {
        "query": {"match_all": {}},
        "sort": [{"created_at": "desc"}, {"id": "asc"}],
        "from": 10,
        "size": 5,
        "track_total_hits": True,
    }


def test_browse_keeps_filters(settings):
    body = dsl_body(plan_for(settings, folder="a/b", media_type=MediaType.video))
    folder, media = body["query"]["bool"]["filter"]
    assert folder["bool"]["should"] == [
        {"term": {"folder": "a/b"}},
        {"prefix": {"folder": "a/b/"}},
    ]
    assert media == {"term": {"media_type": "video"}}


def test_search_sorts_by_score_then_id_with_exact_totals(settings):
    body = dsl_body(plan_for(settings, "dogs running", limit=7, offset=3))
    assert body["sort"] == [{"_score": "desc"}, {"id": "asc"}]
    assert (body["from"], body["size"], body["track_total_hits"]) == (3, 7, True)
    assert body["query"]["bool"]["minimum_should_match"] == 1
    assert "filter" not in body["query"]["bool"]


def test_one_tier1_one_tier2_and_one_tag_clause_per_term(settings):
    plan = plan_for(settings, "dogs running")
    assert plan.terms == ("dog", "run")
    tier1, tier2, *per_term = clauses(dsl_body(plan))
    assert "bool" in tier1 and "constant_score" in tier2
    assert [c["nested"]["path"] for c in per_term] == ["tags", "tags"]


def test_tier1_requires_every_term_in_some_field_and_scores_the_best_field(settings):
    plan = plan_for(settings, "dogs running")
    tier1 = clauses(dsl_body(plan))[0]["bool"]
    (every_term,) = tier1["filter"]
    per_term = every_term["bool"]["filter"]
    assert len(per_term) == 2
    fields = [next(iter(c["term"])) for c in per_term[0]["bool"]["should"]]
    assert fields == ["title_terms", "keywords_terms", "file_name_terms", "description_terms"]
    assert per_term[0]["bool"]["minimum_should_match"] == 1
    dog = tier1["should"][0]["dis_max"]
    assert dog["tie_breaker"] == 0.0
    boosts = {
        next(iter(q["constant_score"]["filter"]["term"])): q["constant_score"]["boost"]
        for q in dog["queries"]
    }
    unit = plan.text_unit
    assert boosts == {
        "title_terms": 4 * unit,
        "keywords_terms": 3 * unit,
        "file_name_terms": 2 * unit,
        "description_terms": 1 * unit,
    }


def test_tier2_is_constant_g_for_all_terms_in_tags_but_not_in_metadata(settings):
    plan = plan_for(settings, "red car")
    tier2 = clauses(dsl_body(plan))[1]["constant_score"]
    assert tier2["boost"] == plan.tier2_base
    nested = tier2["filter"]["bool"]["filter"]
    terms = [q["nested"]["query"]["bool"]["filter"][0] for q in nested]
    assert terms == [{"term": {"tags.tokens": "red"}}, {"term": {"tags.tokens": "car"}}]
    assert tier2["filter"]["bool"]["must_not"] == [
        clauses(dsl_body(plan))[0]["bool"]["filter"][0]
    ]


def test_tag_clause_takes_the_best_tag_weight(settings):
    plan = plan_for(settings, "dog")
    nested = clauses(dsl_body(plan))[2]["nested"]
    assert nested["score_mode"] == "max"
    scored = nested["query"]["function_score"]
    assert (scored["score_mode"], scored["boost_mode"]) == ("first", "replace")
    assert scored["query"]["bool"]["filter"][0] == {"term": {"tags.tokens": "dog"}}
    promoted, manual, machine = scored["functions"]
    assert promoted == {"filter": {"term": {"tags.source": "promoted"}}, "weight": 2.0}
    assert manual == {"filter": {"term": {"tags.source": "manual"}}, "weight": 1.0}
    assert machine["field_value_factor"] == {"field": "tags.weight"}


def test_boosts_follow_the_settings(tmp_path):
    settings = Settings(data_dir=tmp_path, promote_boost=4.0, manual_tag_weight=0.5)
    plan = plan_for(settings, "dog")
    functions = clauses(dsl_body(plan))[2]["nested"]["query"]["function_score"]["functions"]
    assert [f.get("weight") for f in functions[:2]] == [4.0, 0.5]
    assert plan.tier2_base == 8.0
    assert clauses(dsl_body(plan))[1]["constant_score"]["boost"] == 8.0


def machine_thresholds(eligible: dict) -> dict[str, float]:
    sources = eligible["bool"]["filter"][0]["bool"]["should"]
    found = {}
    for source in sources:
        if "bool" in source:
            parts = source["bool"]["filter"]
            kind = parts[1]["term"]["tags.kind"]
            found[kind] = parts[2]["range"]["tags.confidence"]["gte"]
            assert parts[3] == {"range": {"tags.weight": {"gt": 0}}}
    return found


def test_machine_tags_need_their_kind_threshold(tmp_path):
    settings = Settings(data_dir=tmp_path, min_action_confidence=0.4)
    eligible = eligible_tag(plan_for(settings, "dog"))
    assert machine_thresholds(eligible) == {"object": 0.7, "action": 0.4, "custom": 0.7}
    assert len(eligible["bool"]["filter"]) == 1


def test_kind_filter_narrows_every_tag_source(settings):
    plan = plan_for(settings, "dog", kinds=(TagKind.custom, TagKind.action))
    eligible = eligible_tag(plan)
    assert machine_thresholds(eligible) == {"action": 0.7, "custom": 0.7}
    assert eligible["bool"]["filter"][1] == {"terms": {"tags.kind": ["action", "custom"]}}
    tier1 = clauses(dsl_body(plan))[0]
    assert "tags" not in json.dumps(tier1)


def test_a_zero_manual_weight_makes_manual_tags_ineligible(tmp_path):
    settings = Settings(data_dir=tmp_path, manual_tag_weight=0.0)
    sources = eligible_tag(plan_for(settings, "dog"))["bool"]["filter"][0]["bool"]["should"]
    assert {"term": {"tags.source": "manual"}} not in sources


def test_filters_restrict_every_tier(settings):
    body = dsl_body(plan_for(settings, "dog", folder="a/b/", media_type=MediaType.image))
    folder, media = body["query"]["bool"]["filter"]
    assert {"prefix": {"folder": "a/b/"}} in folder["bool"]["should"]
    assert media == {"term": {"media_type": "image"}}


def test_no_scoring_clause_depends_on_term_statistics(settings):
    body = dsl_body(plan_for(settings, "dogs running red car"))
    used = {key for key, _ in walk(body["query"])}
    assert not used & {"match", "multi_match", "query_string", "rank_feature", "script"}


def test_the_largest_plan_stays_under_the_default_clause_limit(settings):
    text = " ".join(f"word{i}" for i in range(settings.max_query_terms + 4))
    body = dsl_body(plan_for(settings, text))
    leaves = [k for k, _ in walk(body["query"]) if k in {"term", "terms", "range", "prefix"}]
    assert len(leaves) < 1024
