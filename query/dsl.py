"""The ranking contract compiled to an OpenSearch request body (the index in mappings/).

Documents carry the analyzed tokens of each metadata field as keyword arrays (`<field>_terms`)
and the indexed tags as `nested` objects {tag, kind, source, confidence, weight, tokens}. Every
scoring clause is a constant or a stored weight, never BM25, so a hit's `_score` is exactly the
score of `query.ranking.explain`:

  should (at least one):
    tier 1   bool(filter: every term in some metadata field,
                  should: per term, dis_max over fields of constant_score(field weight * 2G))
    tier 2   constant_score(G, filter: every term held by an eligible tag, and not tier 1)
    per term nested(tags, max, function_score(eligible tags holding the term) -> tag weight)
"""

from __future__ import annotations

from typing import Any

from catalog.effective import META_FIELDS, terms_field
from catalog.store import DslSearch
from query.plan import QueryPlan

Query = dict[str, Any]


def _filters(plan: QueryPlan) -> list[Query]:
    filters: list[Query] = []
    if plan.folder:
        # The prefix carries the slash: folder `a/b` never matches `a/b-2020`.
        subtree = [{"term": {"folder": plan.folder}}, {"prefix": {"folder": plan.folder + "/"}}]
        filters.append({"bool": {"should": subtree, "minimum_should_match": 1}})
    if plan.media_type:
        filters.append({"term": {"media_type": plan.media_type}})
    return filters


def _term_in_metadata(term: str) -> Query:
    fields = [{"term": {terms_field(f): term}} for f in META_FIELDS]
    return {"bool": {"should": fields, "minimum_should_match": 1}}


def _all_terms_in_metadata(plan: QueryPlan) -> Query:
    return {"bool": {"filter": [_term_in_metadata(t) for t in plan.terms]}}


def _text_score(plan: QueryPlan, term: str) -> Query:
    """The best field weight holding `term`, in units of 2G."""
    per_field = [
        {
            "constant_score": {
                "filter": {"term": {terms_field(f): term}},
                "boost": plan.field_weights[f] * plan.text_unit,
            }
        }
        for f in META_FIELDS
    ]
    return {"dis_max": {"queries": per_field, "tie_breaker": 0.0}}


def _tier1(plan: QueryPlan) -> Query:
    return {
        "bool": {
            "filter": [_all_terms_in_metadata(plan)],
            "should": [_text_score(plan, t) for t in plan.terms],
        }
    }


def _machine_tag(kind: str, threshold: float, extra: list[Query]) -> Query:
    return {
        "bool": {
            "filter": [
                {"term": {"tags.source": "machine"}},
                {"term": {"tags.kind": kind}},
                {"range": {"tags.confidence": {"gte": threshold}}},
                {"range": {"tags.weight": {"gt": 0}}},
                *extra,
            ]
        }
    }


def eligible_tag(plan: QueryPlan) -> Query:
    """A nested tag that may match under the plan: mirrors `QueryPlan.tag_weight > 0`. A
    machine tag with a learned threshold needs its own; the others their kind's."""
    kinds = plan.kinds or tuple(plan.thresholds)
    learned = sorted(plan.tag_thresholds.items())
    sources: list[Query] = []
    if plan.promote_boost > 0:
        sources.append({"term": {"tags.source": "promoted"}})
    if plan.manual_weight > 0:
        sources.append({"term": {"tags.source": "manual"}})
    others: list[Query] = []
    if learned:
        others = [{"bool": {"must_not": [{"terms": {"tags.tag": [n for n, _ in learned]}}]}}]
    for kind in kinds:
        sources.append(_machine_tag(kind, plan.thresholds[kind], others))
        for name, threshold in learned:
            sources.append(_machine_tag(kind, threshold, [{"term": {"tags.tag": name}}]))
    filters: list[Query] = [{"bool": {"should": sources, "minimum_should_match": 1}}]
    if plan.kinds:
        filters.append({"terms": {"tags.kind": list(plan.kinds)}})
    return {"bool": {"filter": filters}}


def _eligible_holding(plan: QueryPlan, term: str) -> Query:
    return {"bool": {"filter": [{"term": {"tags.tokens": term}}, eligible_tag(plan)]}}


def _tier2(plan: QueryPlan) -> Query:
    every_term = [
        {"nested": {"path": "tags", "query": _eligible_holding(plan, t)}} for t in plan.terms
    ]
    return {
        "constant_score": {
            "filter": {"bool": {"filter": every_term, "must_not": [_all_terms_in_metadata(plan)]}},
            "boost": plan.tier2_base,
        }
    }


def _tag_score(plan: QueryPlan, term: str) -> Query:
    """The weight of the best eligible tag holding `term`."""
    weights = [
        {"filter": {"term": {"tags.source": "promoted"}}, "weight": plan.promote_boost},
        {"filter": {"term": {"tags.source": "manual"}}, "weight": plan.manual_weight},
        {
            "filter": {"term": {"tags.source": "machine"}},
            "field_value_factor": {"field": "tags.weight"},
        },
    ]
    scored = {
        "function_score": {
            "query": _eligible_holding(plan, term),
            "functions": weights,
            "score_mode": "first",
            "boost_mode": "replace",
        }
    }
    return {"nested": {"path": "tags", "score_mode": "max", "query": scored}}


def _search_query(plan: QueryPlan) -> Query:
    should = [_tier1(plan), _tier2(plan), *(_tag_score(plan, t) for t in plan.terms)]
    query: Query = {"bool": {"should": should, "minimum_should_match": 1}}
    filters = _filters(plan)
    if filters:
        query["bool"]["filter"] = filters
    return query


def _browse_query(plan: QueryPlan) -> Query:
    filters = _filters(plan)
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


def compile_plan(plan: QueryPlan) -> DslSearch | None:
    """The search request; None when the plan can match nothing."""
    if plan.matches_nothing:
        return None
    if plan.browse:
        query, sort = _browse_query(plan), [{"created_at": "desc"}, {"id": "asc"}]
    else:
        query, sort = _search_query(plan), [{"_score": "desc"}, {"id": "asc"}]
    body = {
        "query": query,
        "sort": sort,
        "from": plan.offset,
        "size": plan.limit,
        "track_total_hits": plan.total_cap,
    }
    return DslSearch(body, scored=not plan.browse)
