"""Asset vectors in the OpenSearch index (mappings/assets.json): the fields, the indexed form,
and the k-NN score back to a cosine.

- `vector_model` (keyword): the model the vectors belong to; searches filter on it.
- `asset_vector_<D>` (knn_vector, HNSW on the Lucene engine, inner product of unit vectors,
  i.e. the cosine): one field per dimension, so models of different sizes can share an index
  while it is re-tagged; the mapping ships 512 (ViT-B-32), the store adds others on first use.
- `vector_median`, `vector_spread` (float): the asset's vocabulary statistics.
- `frames` (nested): per frame `start_s`, `end_s`, `median`, `spread` and `vector_<D>`.

No query reads the vectors back from `_source` except a copy (rebuild, a write that keeps
them) and `read_vectors`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from catalog.vectors import AssetVectors, FrameScores, SemanticQuery

MODEL_FIELD = "vector_model"
MEDIAN_FIELD = "vector_median"
SPREAD_FIELD = "vector_spread"
FRAMES_FIELD = "frames"
SHIPPED_DIM = 512  # the dimension mappings/assets.json carries from the start
SPACE = "innerproduct"  # on unit vectors: the cosine, and a score formula stable across versions
# what a write must carry over from the stored source to keep an asset's vectors
SOURCE_FIELDS = [MODEL_FIELD, "asset_vector_*", MEDIAN_FIELD, SPREAD_FIELD, FRAMES_FIELD]
FRAME_FIELDS = ("start_s", "end_s", "median", "spread")


def asset_field(dim: int) -> str:
    return f"asset_vector_{dim}"


def frame_field(dim: int) -> str:
    """The frame vector's name inside the nested `frames`."""
    return f"vector_{dim}"


def knn_mapping(dim: int) -> dict[str, Any]:
    return {
        "type": "knn_vector",
        "dimension": dim,
        "method": {"name": "hnsw", "engine": "lucene", "space_type": SPACE},
    }


def vector_mapping(dim: int) -> dict[str, Any]:
    """The properties to add for vectors of dimension `dim` (put_mapping)."""
    return {
        asset_field(dim): knn_mapping(dim),
        FRAMES_FIELD: {"type": "nested", "properties": {frame_field(dim): knn_mapping(dim)}},
    }


def _floats(values: np.ndarray) -> list[float]:
    return np.asarray(values, np.float32).astype(float).tolist()


def vector_fields(vectors: AssetVectors) -> dict[str, Any]:
    """The indexed form of an asset's vectors."""
    dim = vectors.dim
    frames = np.asarray(vectors.frames, np.float32)
    return {
        MODEL_FIELD: vectors.model_id,
        asset_field(dim): _floats(vectors.vector),
        MEDIAN_FIELD: float(vectors.median),
        SPREAD_FIELD: float(vectors.spread),
        FRAMES_FIELD: [
            {
                "start_s": float(vectors.starts[i]),
                "end_s": float(vectors.ends[i]),
                "median": float(vectors.frame_medians[i]),
                "spread": float(vectors.frame_spreads[i]),
                frame_field(dim): _floats(frames[i]),
            }
            for i in range(len(frames))
        ],
    }


def stored_vectors(source: dict[str, Any]) -> dict[str, Any]:
    """The vector fields of a stored `_source` (empty: none)."""
    return {k: v for k, v in source.items() if k in _FIXED or k.startswith("asset_vector_")}


_FIXED = {MODEL_FIELD, MEDIAN_FIELD, SPREAD_FIELD, FRAMES_FIELD}


def vectors_from_source(source: dict[str, Any]) -> AssetVectors | None:
    """The AssetVectors a stored `_source` holds, or None."""
    model = source.get(MODEL_FIELD)
    field = next((k for k in source if k.startswith("asset_vector_")), None)
    if not model or field is None:
        return None
    dim = int(field.rsplit("_", 1)[1])
    frames = source.get(FRAMES_FIELD) or []
    inner = frame_field(dim)

    def column(name: str) -> np.ndarray:
        return np.array([f[name] for f in frames], np.float32)

    return AssetVectors(
        model_id=model,
        vector=np.array(source[field], np.float32),
        median=float(source[MEDIAN_FIELD]),
        spread=float(source[SPREAD_FIELD]),
        frames=np.array([f[inner] for f in frames], np.float16).reshape(len(frames), dim),
        starts=column("start_s"),
        ends=column("end_s"),
        frame_medians=column("median"),
        frame_spreads=column("spread"),
    )


def cosine_of_score(score: float) -> float:
    """The inner product (a cosine, for unit vectors) behind a k-NN score of SPACE: score =
    1 + ip above zero, 1 / (1 - ip) at or below (every engine, exact and approximate)."""
    return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score


def frames_request(ids: list[str], query: SemanticQuery, max_frames: int) -> dict[str, Any]:
    """Every frame of these assets scored against `query`: a nested k-NN query restricted to
    their ids (few documents: the plugin searches them exactly), `expand_nested_docs` so that
    each frame comes back in `inner_hits` with its score and fields (OpenSearch 2.19+)."""
    dim = len(query.vector)
    knn = {
        f"{FRAMES_FIELD}.{frame_field(dim)}": {
            "vector": _floats(query.vector),
            "k": len(ids),
            "expand_nested_docs": True,
            "filter": {
                "bool": {
                    "filter": [{"ids": {"values": ids}}, {"term": {MODEL_FIELD: query.model_id}}]
                }
            },
        }
    }
    inner = {
        "size": max_frames,
        "_source": False,
        "fields": [f"{FRAMES_FIELD}.{name}" for name in FRAME_FIELDS],
    }
    nested = {"path": FRAMES_FIELD, "score_mode": "max", "query": {"knn": knn}}
    return {
        "size": len(ids),
        "_source": False,
        "query": {"nested": {**nested, "inner_hits": inner}},
    }


def _field(hit: dict[str, Any], name: str) -> float:
    values = hit.get("fields", {}).get(f"{FRAMES_FIELD}.{name}")
    return float(values[0] if isinstance(values, list) else values)


def read_frames(response: dict[str, Any], query: SemanticQuery) -> dict[str, FrameScores]:
    """Per asset id, its frames scored, in time order (an answer of `frames_request`)."""
    found = {}
    for hit in response["hits"]["hits"]:
        inner = hit.get("inner_hits", {}).get(FRAMES_FIELD, {}).get("hits", {}).get("hits", [])
        if not inner:
            continue
        starts = np.array([_field(f, "start_s") for f in inner], np.float32)
        ends = np.array([_field(f, "end_s") for f in inner], np.float32)
        cosines = np.array([cosine_of_score(f["_score"]) for f in inner])
        medians = np.array([_field(f, "median") for f in inner])
        spreads = np.array([_field(f, "spread") for f in inner])
        scores = query.similarities(cosines, medians, spreads)
        order = np.argsort(starts, kind="stable")
        found[hit["_id"]] = FrameScores(starts[order], ends[order], scores[order])
    return found
