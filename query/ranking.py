"""The ranking contract, written once as plain Python over one asset.

Both compiled backends (SQL, OpenSearch DSL) must order hits exactly as `sort_key` does over
`explain`; the contract tests check that. The API also uses `explain` to say why a hit matched.

Score (the same number from both backends):
  tier 3: tag score                      (0 < score < G)
  tier 2: G + tag score                  (G <= score < 2G)
  tier 1: 2G * text score + tag score    (score >= 2G * number of terms)
where tag score = sum over terms of the best weight of an effective tag holding the term,
text score = sum over terms of the best field weight holding it (title > keywords > file name
> description), and G = the power of two above any possible tag score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.asset import Asset
from catalog.effective import META_FIELDS, IndexedTag, indexed_tags, meta_tokens
from query.plan import QueryPlan


@dataclass(frozen=True)
class TagMatch:
    tag: str
    kind: str
    source: str
    weight: float


@dataclass(frozen=True)
class Match:
    tier: int | None
    score: float
    text_score: float
    tag_score: float
    fields: tuple[str, ...]
    tags: tuple[TagMatch, ...] = field(default=())


def matched_tags(tags: list[IndexedTag], plan: QueryPlan) -> dict[str, TagMatch]:
    """Per term, the eligible tag of `tags` (an asset's indexed tags) with the best weight."""
    best: dict[str, TagMatch] = {}
    for tag in tags:
        terms = [term for term in plan.terms if term in tag.tokens]
        if not terms:  # most of an asset's tags: no weight to work out
            continue
        weight = plan.tag_weight(tag.tag, tag.source, tag.kind, tag.confidence, tag.weight)
        if weight <= 0:
            continue
        for term in terms:
            if term not in best or weight > best[term].weight:
                best[term] = TagMatch(tag.tag, tag.kind, str(tag.source), weight)
    return best


def matched_fields(asset: Asset, plan: QueryPlan) -> tuple[str, ...]:
    """The metadata fields holding some term of the plan."""
    fields = meta_tokens(asset)
    return tuple(f for f in META_FIELDS if any(t in fields[f] for t in plan.terms))


def explain(asset: Asset, plan: QueryPlan, quantum: int) -> Match:
    """How `asset` matches `plan`: tier None when it does not match at all."""
    fields = meta_tokens(asset)
    text_score = 0.0
    in_meta = 0
    for term in plan.terms:
        weights = [plan.field_weights[f] for f in META_FIELDS if term in fields[f]]
        if weights:
            in_meta += 1
            text_score += max(weights)
    best = matched_tags(indexed_tags(asset, quantum), plan)
    tag_score = sum(m.weight for m in best.values())
    matched = tuple(f for f in META_FIELDS if any(t in fields[f] for t in plan.terms))
    tags = tuple(dict.fromkeys(best.values()))
    g = plan.tier2_base
    if plan.terms and in_meta == len(plan.terms):
        return Match(1, 2 * g * text_score + tag_score, text_score, tag_score, matched, tags)
    if plan.terms and len(best) == len(plan.terms):
        return Match(2, g + tag_score, 0.0, tag_score, matched, tags)
    if best:
        return Match(3, tag_score, 0.0, tag_score, matched, tags)
    return Match(None, 0.0, 0.0, 0.0, matched, ())


def sort_key(asset_id: str, match: Match) -> tuple[float, str]:
    """Higher score first, then id: a total, deterministic order."""
    return (-match.score, asset_id)


def tier_of_score(score: float, plan: QueryPlan) -> int:
    g = plan.tier2_base
    return 1 if score >= 2 * g else 2 if score >= g else 3
