"""Search by meaning: which mode a search runs in, and the semantic stage it hands the store.

- `keyword`: the ranking contract's term tiers 1-3, as always.
- `hybrid` (the default): tiers 1-3 as they are, then tier 4: assets no term matches whose
  embedding is similar to the query text's, at or above `semantic_min_confidence`, each below
  every tier-3 hit.
- `semantic`: similarity alone decides, with the same floor.
- by example (an asset, a picture): the nearest assets by the cosine of their embeddings, no
  floor.

A text's similarity to an asset is a confidence on the tags' own scale: its cosine with the
asset vector, as a robust z-score against the asset's similarities to the vocabulary labels
(stored at index time), through the model's tag calibration (catalog/vectors.py). So the
floor means what a tag threshold means, whatever the model.

Hybrid and semantic need the query encoder and the model's embeddings in the store; without
either they run as keyword, with a notice, and the result says why (`semantic`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.encoders import EncoderInfo, EncoderUnavailable, QueryEncoder
from catalog.settings import Settings
from catalog.store import AssetStore, SemanticStage
from catalog.vectors import SemanticQuery
from query.plan import SearchMode

NO_ENCODER = "this search was given no query encoder (a keyword search needs none)"


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None
    info: EncoderInfo | None = None

    def to_json(self) -> dict:
        return {"available": self.available, "reason": self.reason}


def availability(store: AssetStore, encoder: QueryEncoder | None) -> Availability:
    """Whether this store and encoder can search by meaning, and if not, why."""
    if encoder is None:
        return Availability(False, NO_ENCODER)
    try:
        info = encoder.info()
    except EncoderUnavailable as exc:
        return Availability(False, str(exc))
    if store.vector_count(info.model_id) == 0:
        return Availability(
            False,
            f"no embeddings of model {info.model_id} are indexed yet: index the library "
            "(`smarttags index`), or re-tag it (`smarttags reindex`) after a model change",
            info,
        )
    return Availability(True, None, info)


@dataclass(frozen=True)
class Resolved:
    """The mode a search runs in, its semantic stage (None: keyword), and what to tell."""

    mode: SearchMode
    stage: SemanticStage | None
    notices: tuple[str, ...]
    status: Availability


def resolve(
    requested: SearchMode | None,
    text: str,
    store: AssetStore,
    encoder: QueryEncoder | None,
    settings: Settings,
) -> Resolved:
    mode = requested or SearchMode(settings.search_mode)
    status = availability(store, encoder)
    if mode is SearchMode.keyword:
        return Resolved(mode, None, (), status)
    if not status.available:
        notice = f"{mode} search is not available here, so this is a keyword search: " + str(
            status.reason
        )
        # the default mode falls back quietly: the status says why, for a client that asks
        notices = (notice,) if requested is not None else ()
        return Resolved(SearchMode.keyword, None, notices, status)
    if not text.strip():
        return Resolved(mode, None, (), status)  # nothing to compare with: browse
    assert encoder is not None and status.info is not None
    try:
        vector = encoder.encode_text(text)
    except EncoderUnavailable as exc:
        unavailable = Availability(False, str(exc), status.info)
        notice = f"{mode} search is not available here, so this is a keyword search: {exc}"
        return Resolved(SearchMode.keyword, None, (notice,), unavailable)
    query = text_query(vector, status.info)
    stage = SemanticStage(
        query=query,
        floor=settings.semantic_min_confidence,
        after_terms=mode is SearchMode.hybrid,
    )
    return Resolved(mode, stage, (), status)


def text_query(vector: np.ndarray, info: EncoderInfo) -> SemanticQuery:
    return SemanticQuery(
        vector=np.asarray(vector, np.float32),
        model_id=info.model_id,
        calibrated=True,
        center=info.center,
        scale=info.scale,
    )


def example_stage(vector: np.ndarray, model_id: str, exclude: str | None = None) -> SemanticStage:
    """By example: the nearest assets by cosine, no floor; `exclude` the example asset."""
    query = SemanticQuery(np.asarray(vector, np.float32), model_id, calibrated=False)
    return SemanticStage(query=query, floor=None, after_terms=False, exclude=exclude)

