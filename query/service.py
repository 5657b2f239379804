"""Omnisearch: a request in, ranked hits that say why they matched out (CLI and API share it)."""

from __future__ import annotations

from typing import Any

from catalog.asset import Asset
from catalog.effective import indexed_tags
from catalog.settings import Settings
from catalog.store import AssetStore, RankedPage
from query import dsl, sql
from query.plan import QueryPlan, SearchRequest, build_plan
from query.ranking import explain, tier_of_score

# the query layer compiles; each store executes its own dialect as handed
_COMPILERS = {"sql": sql.compile_plan, "dsl": dsl.compile_plan}


def run_plan(store: AssetStore, plan: QueryPlan) -> RankedPage:
    """The ranked page of `plan`, compiled to the store's dialect and executed there."""
    compiled = _COMPILERS[store.dialect](plan)
    if compiled is None:
        return RankedPage(total=0)
    return store.execute_search(compiled)


def _weight(source: str, confidence: float, settings: Settings) -> float:
    if source == "promoted":
        return settings.promote_boost
    if source == "manual":
        return settings.manual_tag_weight
    return confidence


def tag_listing(asset: Asset, settings: Settings) -> list[dict[str, Any]]:
    """The asset's tags as search sees them, one row per name, strongest first: a curated
    tag shows its curated weight with the machine's confidence and segments, if any."""
    machine = {t.tag: t for t in asset.smart_tags}
    rows: dict[str, dict[str, Any]] = {}
    for tag in indexed_tags(asset, settings.weight_quantum):
        weight = _weight(tag.source, tag.confidence, settings)
        if tag.tag in rows and rows[tag.tag]["weight"] >= weight:
            continue
        computed = machine.get(tag.tag)
        rows[tag.tag] = {
            "tag": tag.tag,
            "kind": tag.kind,
            "source": tag.source.value,
            "confidence": computed.confidence if computed else tag.confidence,
            "weight": weight,
            "effective": tag.source != "machine" or tag.confidence >= settings.threshold(tag.kind),
            "segments": [list(s) for s in computed.segments] if computed else [],
        }
    return sorted(rows.values(), key=lambda r: (-r["weight"], r["tag"]))


def hit_dict(
    asset: Asset, score: float, plan: QueryPlan, settings: Settings, with_tags: bool
) -> dict[str, Any]:
    hit: dict[str, Any] = {
        "id": asset.id,
        "tier": None if plan.browse else tier_of_score(score, plan),
        "score": score,
        "path": asset.path,
        "title": asset.title,
        "media_type": asset.media_type.value,
        "folder": asset.folder,
    }
    match = explain(asset, plan, settings.weight_quantum)
    hit["matched"] = {
        "metadata": list(match.fields),
        "tags": [
            {"tag": m.tag, "kind": m.kind, "source": m.source, "weight": m.weight}
            for m in match.tags
        ],
    }
    if with_tags:
        hit["tags"] = tag_listing(asset, settings)
    return hit


def search(
    store: AssetStore, request: SearchRequest, settings: Settings, with_tags: bool = False
) -> dict[str, Any]:
    """Raises InvalidQuery for a request that cannot be answered, StoreError on outages."""
    plan = build_plan(request, settings)
    page = run_plan(store, plan)
    return {
        "total": page.total,
        "offset": plan.offset,
        "limit": plan.limit,
        "terms": list(plan.terms),
        "notices": list(plan.notices),
        "hits": [hit_dict(h.asset, h.score, plan, settings, with_tags) for h in page.hits],
    }
