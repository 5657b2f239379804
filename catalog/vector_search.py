"""Runs the semantic stage of a compiled `PostingsSearch` over the vector index: tier 4 after
the term tiers of catalog/term_search.py (hybrid), or the whole search (semantic mode, by
example). The term tiers run exactly as they would alone; this stage only adds hits below
them and counts them into the total.

- Similarity per asset (catalog/vectors.py): the calibrated confidence of a text query, the
  cosine of an example. A calibrated floor compares robust z-scores (one subtraction and one
  division per asset); confidences are computed for the page only.
- Candidates: live assets passing the folder and media filters (the term snapshot's columns),
  holding a vector of the query's model, at or above the floor, not the excluded example, and
  in hybrid mode matched by no term in any tier.
- Page: the term hits come first; the semantic hits fill the rest of the page, best first,
  ties to the smaller id. The total is the term total plus the semantic candidates, capped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.store import PostingsSearch, SemanticStage, Total
from catalog.term_index import Snapshot
from catalog.term_search import FullIds, SearchResult, TagOverrides, _Evaluation, execute
from catalog.vector_index import VectorSnapshot

SemanticHit = tuple[int, float, int, float | None]  # rowid, score, field mask, similarity


@dataclass(frozen=True)
class HybridResult:
    total: Total
    hits: list[SemanticHit]


def execute_with_semantic(
    snap: Snapshot,
    vectors: VectorSnapshot,
    search: PostingsSearch,
    term_ids: list[int | None],
    full_ids: FullIds,
    exclude: int | None,
    overrides: TagOverrides | None = None,
) -> HybridResult:
    """The page and total of `search` (which has a semantic stage); `exclude`: the rowid of
    the stage's excluded asset, if it is stored; `overrides`: the per-tag thresholds, as for
    the term tiers alone."""
    stage = search.semantic
    assert stage is not None
    run = _Evaluation(snap, search, term_ids, full_ids, overrides)
    if stage.after_terms and search.terms:
        terms = execute(snap, search, term_ids, full_ids, overrides)
    else:
        terms = SearchResult(Total(0), [])
    hits: list[SemanticHit] = [(r, s, m, None) for r, s, m in terms.hits]
    wanted = search.limit - len(hits)
    if wanted <= 0 and terms.total.relation == "gte":
        return HybridResult(terms.total, hits)  # the page is full and the total capped already
    docs, z, similarity = _candidates(run, vectors, stage, exclude, search)
    count = terms.total.value + len(docs)
    relation = terms.total.relation
    total = Total(count, relation) if relation == "gte" else Total.capped(count, search.total_cap)
    if wanted > 0 and len(docs):
        # the term tiers ended on this page: their count is exact, and the page continues
        # with the semantic hits after those the offset skips
        skip = max(0, search.offset - terms.total.value)
        best = run.top(docs, z, skip + wanted)[skip:]
        scores = similarity(best)
        replaces = not stage.after_terms
        for at, value in zip(best, scores, strict=True):
            hits.append((int(docs[at]), float(value) if replaces else 0.0, 0, float(value)))
    return HybridResult(total, hits)


def _candidates(
    run: _Evaluation,
    vectors: VectorSnapshot,
    stage: SemanticStage,
    exclude: int | None,
    search: PostingsSearch,
):
    """(rowids, ranking keys, similarity of chosen indices) of the stage's candidates."""
    query = stage.query
    model = vectors.models.get(query.model_id)
    if model is None or model.dim != len(query.vector):
        return np.empty(0, np.int64), np.empty(0), lambda at: np.empty(0)
    scored = model.score(query.vector)
    rowids, cosines = scored.rowids, scored.cosines
    keep = _in_scope(run, rowids)
    if query.calibrated:
        key = (cosines - scored.medians) / scored.spreads
        floor = query.z_floor(stage.floor) if stage.floor is not None else None
    else:
        key = cosines
        floor = stage.floor
    if floor is not None:
        above = key >= floor
        keep = above if keep is None else keep & above
    if exclude is not None:
        other = rowids != exclude
        keep = other if keep is None else keep & other
    if keep is not None:
        rowids, key = rowids[keep], key[keep]
    if stage.after_terms and search.terms:
        free = ~_term_matched(run, rowids)
        rowids, key = rowids[free], key[free]
    key = key.astype(np.float64)

    def similarity(at: np.ndarray) -> np.ndarray:
        chosen = key[at]
        return query.confidences(chosen) if query.calibrated else chosen

    return rowids, key, similarity


def _in_scope(run: _Evaluation, rowids: np.ndarray) -> np.ndarray | None:
    """Live documents of the term snapshot passing the folder and media filters."""
    snap = run.snap
    inside = rowids < snap.size
    live = np.zeros(len(rowids), bool)
    live[inside] = snap.doc_segment[rowids[inside]] >= 0
    passing = run.filtered(np.where(inside, rowids, 0))
    return live if passing is None else live & passing


def _term_matched(run: _Evaluation, rowids: np.ndarray) -> np.ndarray:
    """Per rowid: some tier of the term search holds it (every term in the metadata, or some
    term in an eligible tag; the all-tags tier is inside the latter)."""
    matched = np.zeros(run.snap.size, bool)
    metadata, _ = run.metadata_members(matched)
    matched[metadata] = True
    for term in run.terms:
        if term is not None:
            docs, _ = run.tag_postings(term)
            matched[docs] = True
    return matched[rowids]
