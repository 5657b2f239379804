"""Omnisearch: a request in, ranked hits that say why they matched out (CLI and API share it)."""

from __future__ import annotations

from typing import Any

from catalog.asset import Asset
from catalog.effective import IndexedTag, TagSource, indexed_tags
from catalog.settings import Settings
from catalog.store import AssetStore, RankedPage
from catalog.tag_thresholds import Thresholds, current_thresholds
from query import dsl, postings
from query.plan import QueryPlan, SearchRequest, build_plan
from query.ranking import matched_fields, matched_tags, tier_of_score

# the query layer compiles; each store executes its own dialect as handed
_COMPILERS = {"postings": postings.compile_plan, "dsl": dsl.compile_plan}


def run_plan(store: AssetStore, plan: QueryPlan) -> RankedPage:
    """The ranked page of `plan`, compiled to the store's dialect and executed there."""
    compiled = _COMPILERS[store.dialect](plan)
    if compiled is None:
        return RankedPage()
    return store.execute_search(compiled)


_SOURCE_NAME = {source: source.value for source in TagSource}  # Enum.value is a slow property


def _row_order(row: dict[str, Any]) -> tuple[float, str]:
    return (-row["weight"], row["tag"])


def tag_listing(
    asset: Asset,
    settings: Settings,
    tags: list[IndexedTag] | None = None,
    thresholds: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """The asset's tags as search sees them, one row per name, strongest first: a curated
    tag shows its curated weight with the machine's confidence and segments, if any; a
    machine tag below its threshold is a stored candidate, `suggested` (it does not count).
    `tags`: the asset's indexed tags, when the caller has them already; `thresholds`: the
    kind and learned thresholds (default: the settings' kind thresholds)."""
    if tags is None:
        tags = indexed_tags(asset, settings.weight_quantum)
    thresholds = thresholds or Thresholds.defaults(settings)
    weights = {
        TagSource.promoted: settings.promote_boost,
        TagSource.manual: settings.manual_tag_weight,
    }
    machine = {t.tag: t for t in asset.smart_tags}
    rows: dict[str, dict[str, Any]] = {}
    for tag in tags:
        source = tag.source
        weight = weights.get(source, tag.confidence)
        row = rows.get(tag.tag)
        if row is not None and row["weight"] >= weight:
            continue
        computed = machine.get(tag.tag)
        segments = computed.segments if computed else ()
        threshold = thresholds.of(tag.tag, tag.kind) if computed else None
        effective = source is not TagSource.machine or tag.confidence >= threshold
        rows[tag.tag] = {
            "tag": tag.tag,
            "kind": tag.kind,
            "source": _SOURCE_NAME[source],
            "confidence": computed.confidence if computed else tag.confidence,
            "weight": weight,
            "effective": effective,
            "suggested": not effective,
            "threshold": threshold,
            "segments": [list(s) for s in segments] if segments else [],
        }
    return sorted(rows.values(), key=_row_order)


def hit_dict(
    asset: Asset,
    score: float,
    plan: QueryPlan,
    settings: Settings,
    with_tags: bool,
    fields: tuple[str, ...] | None = None,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """One hit as the CLI and API show it. `fields`: the metadata fields holding a term, when
    the store reported them (else worked out here, as query.ranking.explain does);
    `thresholds`: what the tag listing applies."""
    hit: dict[str, Any] = {
        "id": asset.id,
        "tier": None if plan.browse else tier_of_score(score, plan),
        "score": score,
        "path": asset.path,
        "title": asset.title,
        "media_type": asset.media_type.value,
        "folder": asset.folder,
    }
    tags = indexed_tags(asset, settings.weight_quantum) if plan.terms or with_tags else []
    best = matched_tags(tags, plan) if plan.terms else {}
    if fields is None:
        fields = matched_fields(asset, plan) if plan.terms else ()
    hit["matched"] = {
        "metadata": list(fields),
        "tags": [
            {"tag": m.tag, "kind": m.kind, "source": m.source, "weight": m.weight}
            for m in dict.fromkeys(best.values())
        ],
    }
    if with_tags:
        hit["tags"] = tag_listing(asset, settings, tags, thresholds)
    return hit


def search(
    store: AssetStore, request: SearchRequest, settings: Settings, with_tags: bool = False
) -> dict[str, Any]:
    """Raises InvalidQuery for a request that cannot be answered, StoreError on outages."""
    thresholds = current_thresholds(store, settings)
    plan = build_plan(request, settings, thresholds)
    page = run_plan(store, plan)
    return {
        "total": page.total.to_json(),
        "offset": plan.offset,
        "limit": plan.limit,
        "terms": list(plan.terms),
        "notices": list(plan.notices),
        "hits": [
            hit_dict(h.asset, h.score, plan, settings, with_tags, h.fields, thresholds)
            for h in page.hits
        ],
    }
