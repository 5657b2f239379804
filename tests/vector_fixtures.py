"""Asset vectors for tests of the stores' semantic side: chosen directions, known statistics."""

from __future__ import annotations

import numpy as np

from catalog.vectors import AssetVectors, SemanticQuery

DIM = 8
MODEL = "test-model"


def unit(*values: float, dim: int = DIM) -> np.ndarray:
    """A unit vector whose first components are `values`."""
    out = np.zeros(dim, np.float32)
    out[: len(values)] = values
    return out / np.linalg.norm(out)


def vectors(
    direction: np.ndarray,
    frames: list[np.ndarray] | None = None,
    model: str = MODEL,
    median: float = 0.0,
    spread: float = 0.1,
    frame_s: float = 1.0,
) -> AssetVectors:
    """An asset's vectors: `frames` one every `frame_s` seconds (default: the direction alone,
    as an image has), every frame with the asset's statistics."""
    rows = np.stack(frames if frames else [direction]).astype(np.float16)
    count = len(rows)
    starts = np.arange(count, dtype=np.float32) * frame_s if frames else np.zeros(1, np.float32)
    ends = starts + frame_s if frames else np.zeros(1, np.float32)
    return AssetVectors(
        model_id=model,
        vector=np.asarray(direction, np.float32),
        median=median,
        spread=spread,
        frames=rows,
        starts=starts,
        ends=ends,
        frame_medians=np.full(count, median, np.float32),
        frame_spreads=np.full(count, spread, np.float32),
    )


def text_query(direction: np.ndarray, model: str = MODEL, center=3.5, scale=0.7) -> SemanticQuery:
    return SemanticQuery(np.asarray(direction, np.float32), model, True, center, scale)


def example_query(direction: np.ndarray, model: str = MODEL) -> SemanticQuery:
    return SemanticQuery(np.asarray(direction, np.float32), model, False)
