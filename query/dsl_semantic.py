"""The semantic stage compiled to OpenSearch requests (fields: catalog/opensearch_vectors.py).

- Text queries (tier 4 of hybrid, semantic mode) are scored exactly, by a `script_score` over
  the filtered assets of the query's model: the cosine with `asset_vector_<D>` (the k-NN
  plugin's Painless `cosineSimilarity`), z-scored against the asset's vocabulary median and
  spread and put through the tag calibration's logistic, as the embedded store computes it.
  A floor and an exact count need every asset's score: an approximate k-NN search returns a
  fixed number of neighbours instead.
  - hybrid: one more `should` clause beside query/dsl.py's tiers, matching only assets that no
    term matches, scored confidence x TIER4_SCALE: below the smallest tier-3 score (a tag
    weight is a positive multiple of 1/weight_quantum), so every tier-4 hit ranks below every
    tier-3 hit while tiers 1-3 keep their scores exactly;
  - semantic: the script's confidence is the score.
- By example: a `knn` query (HNSW, approximate) on `asset_vector_<D>` with the filters inside
  it (the k-NN plugin's efficient filtering), k = offset + limit.
- Moments: the store scores the frames of the page's video hits itself
  (catalog/opensearch_vectors.frames_request).
"""

from __future__ import annotations

import math
from typing import Any

from catalog.opensearch_vectors import (
    MEDIAN_FIELD,
    MODEL_FIELD,
    SPREAD_FIELD,
    asset_field,
    cosine_of_score,
)
from catalog.store import DslSearch, DslSemantic, SemanticStage
from catalog.vectors import SemanticQuery
from query import dsl
from query.plan import QueryPlan

Query = dict[str, Any]

# the calibrated confidence of a text query for one asset (catalog/vectors.py), times a weight
CONFIDENCE_SCRIPT = (
    "double c = cosineSimilarity(params.query_value, doc[params.field], 1.0f); "
    "double z = (c - doc['" + MEDIAN_FIELD + "'].value) / doc['" + SPREAD_FIELD + "'].value; "
    "return params.weight / (1.0 + Math.exp((params.center - z) / params.scale));"
)


def tier4_scale(plan: QueryPlan) -> float:
    """A power of two at most half the smallest tier-3 score (1 / weight_quantum): tier-4
    scores stay below it and scale exactly in float32."""
    return 2.0 ** -(math.ceil(math.log2(plan.weight_quantum)) + 1)


def _vector_filter(query: SemanticQuery) -> list[Query]:
    dim = len(query.vector)
    return [
        {"term": {MODEL_FIELD: query.model_id}},
        {"exists": {"field": asset_field(dim)}},
    ]


def _confidence(query: SemanticQuery, scope: Query, weight: float, floor: float | None) -> Query:
    script_score: Query = {
        "query": scope,
        "script": {
            "source": CONFIDENCE_SCRIPT,
            "params": {
                "field": asset_field(len(query.vector)),
                "query_value": [float(v) for v in query.vector],
                "center": query.center,
                "scale": query.scale,
                "weight": weight,
            },
        },
    }
    if floor is not None:
        script_score["min_score"] = floor * weight
    return {"script_score": script_score}


def _no_term_matches(plan: QueryPlan) -> list[Query]:
    """Clauses for must_not: every term in the metadata (tier 1), or some term in an eligible
    tag (tiers 2 and 3)."""
    if not plan.terms:
        return []
    tagged = [
        {"nested": {"path": "tags", "query": dsl._eligible_holding(plan, term)}}
        for term in plan.terms
    ]
    return [dsl._all_terms_in_metadata(plan), *tagged]


def _tier4(plan: QueryPlan, stage: SemanticStage) -> Query:
    scope = {"bool": {"filter": _vector_filter(stage.query), "must_not": _no_term_matches(plan)}}
    return _confidence(stage.query, scope, tier4_scale(plan), stage.floor)


def _hybrid_query(plan: QueryPlan, stage: SemanticStage) -> Query:
    if not plan.terms:  # no searchable word: tier 4 alone
        query: Query = {"bool": {"should": [_tier4(plan, stage)], "minimum_should_match": 1}}
    else:
        query = dsl._search_query(plan)
        query["bool"]["should"].append(_tier4(plan, stage))
    filters = dsl._filters(plan)
    if filters:
        query["bool"]["filter"] = filters
    return query


def _excluded(stage: SemanticStage) -> list[Query]:
    return [{"ids": {"values": [stage.exclude]}}] if stage.exclude else []


def _semantic_query(plan: QueryPlan, stage: SemanticStage) -> Query:
    scope = {
        "bool": {
            "filter": [*dsl._filters(plan), *_vector_filter(stage.query)],
            "must_not": _excluded(stage),
        }
    }
    return _confidence(stage.query, scope, 1.0, stage.floor)


def _knn_query(plan: QueryPlan, stage: SemanticStage) -> Query:
    query = stage.query
    scope = {
        "bool": {
            "filter": [*dsl._filters(plan), {"term": {MODEL_FIELD: query.model_id}}],
            "must_not": _excluded(stage),
        }
    }
    return {
        "knn": {
            asset_field(len(query.vector)): {
                "vector": [float(v) for v in query.vector],
                "k": plan.offset + plan.limit,
                "filter": scope,
            }
        }
    }


def compile_plan(plan: QueryPlan) -> DslSearch | None:
    """The request of a plan with a semantic stage (plan.semantic)."""
    stage = plan.semantic
    assert stage is not None
    if stage.after_terms:
        query = _hybrid_query(plan, stage)
        scale = tier4_scale(plan)

        def read(score: float) -> float | None:
            return score / scale if score < 2 * scale else None

        replaces, knn = False, False
    elif stage.query.calibrated:
        query = _semantic_query(plan, stage)

        def read(score: float) -> float | None:
            return score

        replaces, knn = True, False
    else:
        query = _knn_query(plan, stage)

        def read(score: float) -> float | None:
            return cosine_of_score(score)

        replaces, knn = True, True
    body = {
        "query": query,
        "sort": [{"_score": "desc"}, {"id": "asc"}],
        "from": plan.offset,
        "size": plan.limit,
        "track_total_hits": plan.total_cap,
    }
    semantic = DslSemantic(
        similarity_of=read,
        replaces_score=replaces,
        query=stage.query,
        moments=stage.moments,
        knn=knn,
    )
    return DslSearch(body, scored=True, semantic=semantic)
