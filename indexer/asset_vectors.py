"""An asset's vectors for semantic search (catalog/vectors.py), from its frame embeddings.

Pure numpy, like the tagger: the frames come from the model or the embedding cache, so
re-tagging from the cache refreshes the vectors too.

- The asset vector is the custom tags' feature: the mean of the unit frame embeddings, back
  to unit length (indexer/custom_tags.asset_feature).
- Each frame stands for the time range the tagger gives it (half the gap to each neighbour,
  inside the video); an image's one frame for 0-0.
- The vocabulary statistics are those of the tags' calibration (indexer/calibration.py): the
  median of the cosines with every label of the vocabularies and 1.4826 x their MAD, per
  frame and for the asset vector. A query text z-scored against them is on the tags' scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from catalog.asset import MediaType
from catalog.vectors import FRAME_DTYPE, MAD_TO_SIGMA, MIN_SPREAD, AssetVectors
from indexer.custom_tags import asset_feature, unit_rows
from indexer.tagger import frame_spans
from indexer.vocabulary import LabelEmbeddings


def vocabulary_matrix(vocabularies: Sequence[LabelEmbeddings]) -> np.ndarray:
    """Every label of the vocabularies, one unit row each."""
    return np.concatenate([v.vectors for v in vocabularies]).astype(np.float32)


def label_statistics(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the median of its cosines with the labels, and their robust spread."""
    cosines = rows @ labels.T
    median = np.median(cosines, axis=1)
    mad = np.median(np.abs(cosines - median[:, None]), axis=1)
    return median.astype(np.float32), np.maximum(mad * MAD_TO_SIGMA, MIN_SPREAD).astype(
        np.float32
    )


def asset_vectors(
    frame_embeddings: np.ndarray,
    stamps: Sequence[float],
    duration_s: float | None,
    media_type: MediaType | str,
    labels: np.ndarray,
    model_id: str,
) -> AssetVectors:
    """The vectors of one asset; `labels` from `vocabulary_matrix`."""
    frames = unit_rows(frame_embeddings)
    times = np.asarray(stamps, np.float64)
    order = np.argsort(times, kind="stable")
    frames, times = frames[order], times[order]
    if MediaType(media_type) is MediaType.video:
        spans = frame_spans(times, duration_s)
    else:
        spans = np.zeros((len(frames), 2))
    vector = asset_feature(frames)
    medians, spreads = label_statistics(np.vstack([vector[None, :], frames]), labels)
    return AssetVectors(
        model_id=model_id,
        vector=vector.astype(np.float32),
        median=float(medians[0]),
        spread=float(spreads[0]),
        frames=frames.astype(FRAME_DTYPE),
        starts=spans[:, 0].astype(np.float32),
        ends=spans[:, 1].astype(np.float32),
        frame_medians=medians[1:],
        frame_spreads=spreads[1:],
    )
