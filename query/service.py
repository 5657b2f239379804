"""Omnisearch: a request in, ranked hits that say why they matched out (CLI and API share it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from catalog.asset import Asset, MediaType
from catalog.effective import IndexedTag, TagSource, indexed_tags
from catalog.encoders import EncoderUnavailable, QueryEncoder
from catalog.settings import Settings
from catalog.store import AssetStore, RankedHit, RankedPage, SemanticStage
from catalog.tag_thresholds import Thresholds, current_thresholds
from query import dsl, dsl_semantic, postings
from query.moments import moments
from query.plan import QueryPlan, SearchMode, SearchRequest, build_plan
from query.ranking import matched_fields, matched_tags, tier_of_score
from query.semantic import Availability, example_stage, resolve, text_query

SEMANTIC_TIER = 4  # matched by meaning only


def _compile_dsl(plan: QueryPlan):
    return dsl_semantic.compile_plan(plan) if plan.semantic else dsl.compile_plan(plan)


# the query layer compiles; each store executes its own dialect as handed
_COMPILERS = {"postings": postings.compile_plan, "dsl": _compile_dsl}


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
    ranked: RankedHit | None = None,
) -> dict[str, Any]:
    """One hit as the CLI and API show it. `fields`: the metadata fields holding a term, when
    the store reported them (else worked out here, as query.ranking.explain does);
    `thresholds`: what the tag listing applies; `ranked`: the store's hit, for its similarity
    and frames (semantic hits)."""
    similarity = ranked.similarity if ranked is not None else None
    by_meaning = similarity is not None
    tier = SEMANTIC_TIER if by_meaning else None if plan.browse else tier_of_score(score, plan)
    hit: dict[str, Any] = {
        "id": asset.id,
        "tier": tier,
        "score": score,
        "path": asset.path,
        "title": asset.title,
        "media_type": asset.media_type.value,
        "folder": asset.folder,
    }
    terms = plan.terms if not by_meaning else ()
    if with_tags:
        tags = indexed_tags(asset, settings.weight_quantum)
    else:
        tags = indexed_tags(asset, settings.weight_quantum, terms) if terms else []
    best = matched_tags(tags, plan) if terms else {}
    if by_meaning:
        fields = ()
    elif fields is None:
        fields = matched_fields(asset, plan) if terms else ()
    hit["matched"] = {
        "metadata": list(fields),
        "tags": [
            {"tag": m.tag, "kind": m.kind, "source": m.source, "weight": m.weight}
            for m in dict.fromkeys(best.values())
        ],
    }
    if with_tags:
        hit["tags"] = tag_listing(asset, settings, tags, thresholds)
    hit["similarity"] = similarity
    hit["moments"] = moments(ranked.frames if ranked else None, settings)
    return hit


def _result(
    page: RankedPage,
    plan: QueryPlan,
    settings: Settings,
    with_tags: bool,
    mode: SearchMode,
    status: Availability,
    text: str,
    notices: tuple[str, ...] = (),
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    return {
        "total": page.total.to_json(),
        "offset": plan.offset,
        "limit": plan.limit,
        "query": text,
        "mode": mode.value,
        "semantic": status.to_json(),
        "terms": list(plan.terms),
        "notices": [*plan.notices, *notices],
        "hits": [
            hit_dict(h.asset, h.score, plan, settings, with_tags, h.fields, thresholds, h)
            for h in page.hits
        ],
    }


def search(
    store: AssetStore,
    request: SearchRequest,
    settings: Settings,
    with_tags: bool = False,
    encoder: QueryEncoder | None = None,
) -> dict[str, Any]:
    """Raises InvalidQuery for a request that cannot be answered, StoreError on outages.
    `encoder`: what turns the text into an embedding (hybrid and semantic modes; without
    one, every search is a keyword search)."""
    thresholds = current_thresholds(store, settings)
    plan = build_plan(request, settings, thresholds)
    resolved = resolve(request.mode, request.text, store, encoder, settings)
    if resolved.stage is not None:
        plan = replace(plan, semantic=resolved.stage)
    page = run_plan(store, plan)
    return _result(
        page,
        plan,
        settings,
        with_tags,
        resolved.mode,
        resolved.status,
        request.text,
        resolved.notices,
        thresholds,
    )


class NotIndexed(LookupError):
    """The example asset has no embeddings to compare with (the message says why)."""


def similar(
    store: AssetStore,
    asset_id: str,
    request: SearchRequest,
    settings: Settings,
    with_tags: bool = False,
) -> dict[str, Any]:
    """The assets nearest to `asset_id` by embedding (not itself), filters applied.
    Raises LookupError (KeyError: no such asset; NotIndexed: no embeddings)."""
    asset = store.get(asset_id)
    if asset is None:
        raise KeyError(asset_id)
    vectors = store.read_vectors(asset_id)
    if vectors is None:
        raise NotIndexed(
            f"asset {asset_id} has no embeddings (it was never tagged, or smart tags are off "
            "for its folder): index it first"
        )
    stage = example_stage(vectors.vector, vectors.model_id, exclude=asset_id)
    return _by_example(store, stage, request, settings, with_tags)


def by_image(
    store: AssetStore,
    image: Path,
    request: SearchRequest,
    settings: Settings,
    encoder: QueryEncoder | None,
    with_tags: bool = False,
) -> dict[str, Any]:
    """The assets nearest to the picture in `image`. Raises EncoderUnavailable (no image
    encoder here) and UnreadableImage (not a picture it can decode)."""
    if encoder is None:
        raise EncoderUnavailable(
            "no query encoder in this process: search by picture runs in `smarttags serve` "
            "and the CLI"
        )
    info = encoder.info()
    vector = encoder.encode_image(image)
    stage = example_stage(vector, info.model_id)
    return _by_example(store, stage, request, settings, with_tags)


def _by_example(
    store: AssetStore,
    stage: SemanticStage,
    request: SearchRequest,
    settings: Settings,
    with_tags: bool,
) -> dict[str, Any]:
    thresholds = current_thresholds(store, settings)
    plan = build_plan(replace(request, text=""), settings, thresholds)
    plan = replace(plan, semantic=stage)
    page = run_plan(store, plan)
    status = Availability(store.vector_count(stage.query.model_id) > 0)
    notices = ()
    if not status.available:
        status = Availability(False, f"no embeddings of model {stage.query.model_id} are indexed")
        notices = (status.reason,)
    mode = SearchMode.semantic
    return _result(page, plan, settings, with_tags, mode, status, "", notices, thresholds)


def asset_moments(
    store: AssetStore, asset_id: str, text: str, settings: Settings, encoder: QueryEncoder | None
) -> dict[str, Any]:
    """Where in the asset (a video) `text` matches best; raises KeyError for no such asset
    and EncoderUnavailable without a text encoder. An image, or an asset without frame
    embeddings of the encoder's model, has no moments."""
    asset = store.get(asset_id)
    if asset is None:
        raise KeyError(asset_id)
    if asset.media_type is not MediaType.video:
        return {"asset_id": asset_id, "query": text, "moments": []}
    if encoder is None:
        raise EncoderUnavailable(
            "no query encoder in this process: moments are found by `smarttags serve` and the CLI"
        )
    info = encoder.info()
    query = text_query(encoder.encode_text(text), info)
    frames = store.frame_scores([asset_id], query).get(asset_id)
    return {"asset_id": asset_id, "query": text, "moments": moments(frames, settings)}
