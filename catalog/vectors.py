"""An asset's embeddings as the stores keep them beside its document, for semantic search.

- The asset vector: the normalised mean of its unit frame embeddings (one image: its frame),
  the same feature custom tags are trained on. Searches rank assets by it.
- The frame vectors with the time range each frame stands for: moments are read from them,
  for the hits of a page only.
- Per asset and per frame, where a typical unrelated text sits: the median of its cosine
  similarities to the tag vocabularies' labels and their spread (1.4826 x MAD), measured at
  index time. A query's similarity z-scored against them and put through the model's tag
  calibration is a confidence on the tags' own scale (indexer/calibration.py): "this text
  stands as far above a typical label, for this picture, as a tag at confidence c does".

Vectors belong to one model (`model_id`): a search compares only vectors of the model that
encoded the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826  # the MAD of a Gaussian times this is its standard deviation
MIN_SPREAD = 1e-6  # a spread of (nearly) zero would make every z-score infinite
FRAME_DTYPE = np.float16  # frame vectors: half the bytes, cosines within 1e-3


@dataclass(frozen=True, eq=False)
class AssetVectors:
    model_id: str
    vector: np.ndarray  # D float32, unit length
    median: float  # of the asset vector's cosines to the vocabulary labels
    spread: float  # 1.4826 x their MAD, at least MIN_SPREAD
    frames: np.ndarray  # T x D frame vectors (FRAME_DTYPE), in time order
    starts: np.ndarray  # T float32 seconds: where each frame's time range starts
    ends: np.ndarray  # T float32 seconds: ... and ends (an image: 0, 0)
    frame_medians: np.ndarray  # T float32
    frame_spreads: np.ndarray  # T float32

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    def __post_init__(self) -> None:
        count = len(self.frames)
        shapes = {
            len(self.starts),
            len(self.ends),
            len(self.frame_medians),
            len(self.frame_spreads),
        }
        wrong_dim = count > 0 and self.frames.shape[1] != self.dim
        if self.vector.ndim != 1 or shapes != {count} or wrong_dim:
            raise ValueError("asset vectors: one vector, and one time range and spread per frame")


class ClearVectors:
    """A write that removes the asset's vectors (smart tags were turned off for it)."""

    def __repr__(self) -> str:
        return "CLEAR_VECTORS"


CLEAR_VECTORS = ClearVectors()
# what a document write does to the asset's vectors: None keeps them as stored
VectorUpdate = AssetVectors | ClearVectors | None


@dataclass(frozen=True, eq=False)
class SemanticQuery:
    """What a semantic search compares the assets with.

    `calibrated` (a text query): similarity is the calibrated confidence of the query against
    each asset's vocabulary statistics, with the model's logistic (center, scale); else (an
    example picture or asset) it is the plain cosine of the embeddings."""

    vector: np.ndarray  # D float32, unit length
    model_id: str
    calibrated: bool
    center: float = 0.0
    scale: float = 1.0

    def z_floor(self, confidence: float) -> float:
        """The robust z-score at which the confidence reaches `confidence`."""
        if confidence <= 0.0:
            return -math.inf
        if confidence >= 1.0:
            return math.inf
        return self.center + self.scale * math.log(confidence / (1.0 - confidence))

    def confidences(self, z: np.ndarray) -> np.ndarray:
        """z-scores -> confidences in [0, 1] (the tags' logistic)."""
        shifted = (np.asarray(z, np.float64) - self.center) / (2 * self.scale)
        logistic = 0.5 * (1.0 + np.tanh(shifted))
        return np.clip(logistic, 0.0, 1.0)

    def similarities(
        self, cosines: np.ndarray, medians: np.ndarray, spreads: np.ndarray
    ) -> np.ndarray:
        """Per row, the similarity this query reports (see the class docstring)."""
        if not self.calibrated:
            return np.asarray(cosines, np.float64)
        return self.confidences((cosines - medians) / spreads)


@dataclass(frozen=True)
class FrameScores:
    """One video's frames scored against a query: their time ranges and similarities."""

    starts: np.ndarray
    ends: np.ndarray
    scores: np.ndarray

