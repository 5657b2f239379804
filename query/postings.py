"""The ranking contract compiled for the embedded store's term index (catalog/term_search.py).

The program names the tiers in rank order with their scores, the field weights of the text
score and, per tag channel (source, kind), whether its tags may match and what they weigh:
  tier 1  every term in the metadata        2G * text score + tag score
  tier 2  every term in an eligible tag     G + tag score
  tier 3  some term in an eligible tag      tag score
A machine tag is eligible at or above its kind's threshold (or its own learned threshold,
which the program lists by tag name) and weighs its quantised confidence; manual and promoted
tags weigh the plan's weights; a kind filter drops the other kinds' channels. The store
evaluates the program as handed.
"""

from __future__ import annotations

from catalog.store import (
    AllTagsTier,
    AnyTagTier,
    MetadataTier,
    PostingsSearch,
    TagChannelWeight,
)
from catalog.term_rows import CHANNELS
from query.plan import QueryPlan


def _channel(plan: QueryPlan, source: str, kind: str) -> TagChannelWeight | None:
    if plan.kinds and kind not in plan.kinds:
        return None
    if source == "promoted":
        return TagChannelWeight(source, kind, plan.promote_boost)
    if source == "manual":
        return TagChannelWeight(source, kind, plan.manual_weight)
    return TagChannelWeight(source, kind, None, plan.thresholds[kind])


def compile_plan(plan: QueryPlan) -> PostingsSearch | None:
    """None when the plan can match nothing (a query of stop words only, and no semantic
    stage); the semantic stage, if any, is handed on as the plan has it."""
    if plan.matches_nothing and plan.semantic is None:
        return None
    channels = tuple(c for s, k in CHANNELS if (c := _channel(plan, s, k)) is not None)
    tiers: tuple = ()
    if plan.terms:
        tiers = (MetadataTier(plan.text_unit), AllTagsTier(plan.tier2_base), AnyTagTier())
    return PostingsSearch(
        terms=plan.terms,
        tiers=tiers,
        field_weights=plan.field_weights,
        channels=channels,
        folder=plan.folder,
        media_type=plan.media_type,
        offset=plan.offset,
        limit=plan.limit,
        total_cap=plan.total_cap,
        tag_thresholds=tuple(plan.tag_thresholds.items()),
        semantic=plan.semantic,
    )
