"""Custom (trained) tags of one asset, from its frame embeddings and the latest training run.

Pure numpy: the classifiers come from disk (indexer/classifiers.py), the embeddings from the
model or the embedding cache.

- An asset's feature is one unit vector: an image's frame embedding; for a video, the mean of
  its unit frame embeddings, back to unit length (the same pooled embedding training used).
- Confidence: the classifier's probability p, mapped piecewise-linearly so that the tag's
  best-F1 threshold t lands on min_custom_confidence (the query-time threshold of kind
  `custom`), 0 on 0 and 1 on 1. "At or above the search threshold" then means "the classifier
  says yes at its best operating point", whatever t the tag needed; a larger p still ranks
  higher. Tags below custom_store_min_confidence are not stored.
- Video segments: the merged time ranges of the frames whose own probability reaches t.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from catalog.asset import Asset, MediaType, SmartTag, TagKind
from catalog.settings import Settings
from catalog.training_runs import latest_run
from indexer.classifiers import Classifiers, load_classifiers
from indexer.tagger import frame_spans, merged_segments

log = logging.getLogger("smarttags.custom_tags")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def asset_feature(frame_embeddings: np.ndarray) -> np.ndarray:
    """The asset's one training and tagging feature (see the module docstring)."""
    frames = unit_rows(frame_embeddings)
    if frames.ndim != 2 or len(frames) == 0:
        raise ValueError("an asset feature needs a non-empty T x D array of frame embeddings")
    return unit_rows(frames.mean(axis=0))


def to_confidence(probability: np.ndarray, threshold: np.ndarray, target: float) -> np.ndarray:
    """Piecewise-linear: 0 -> 0, threshold -> target, 1 -> 1."""
    p = np.asarray(probability, dtype=np.float64)
    t = np.clip(np.asarray(threshold, dtype=np.float64), 1e-9, 1 - 1e-9)
    below = p / t * target
    above = target + (p - t) / (1 - t) * (1 - target)
    return np.clip(np.where(p < t, below, above), 0.0, 1.0)


class CustomTagger:
    def __init__(
        self, run_id: str, model_id: str | None, classifiers: Classifiers, settings: Settings
    ) -> None:
        self.run_id = run_id
        self.model_id = model_id
        self.classifiers = classifiers
        self.settings = settings

    @classmethod
    def latest(cls, settings: Settings, model_id: str | None = None) -> CustomTagger | None:
        """The latest finished run's tagger; None when there is none, when its classifiers
        cannot be read, or (given `model_id`) when it learned another model's embeddings."""
        record = latest_run(settings)
        if record is None or (model_id is not None and record.model_id != model_id):
            return None
        classifiers = load_classifiers(settings, record.run)
        if classifiers is None:
            log.warning("training run %s has no readable classifiers", record.run)
            return None
        return cls(record.run, record.model_id, classifiers, settings)

    @property
    def tag_names(self) -> list[str]:
        return list(self.classifiers.tags)

    def tags(
        self,
        frame_embeddings: np.ndarray,
        stamps: list[float] | Sequence[float],
        media_type: MediaType | str,
        duration_s: float | None = None,
    ) -> list[SmartTag]:
        """The asset's custom tags, best first."""
        model = self.classifiers
        if not model.tags:
            return []
        frames = unit_rows(frame_embeddings)
        if frames.ndim != 2 or frames.shape[1] != model.weights.shape[1]:
            raise ValueError(
                f"frame embeddings of shape {frames.shape} do not fit the classifiers of "
                f"{self.run_id} (dimension {model.weights.shape[1]}): another model?"
            )
        confidence = to_confidence(
            self._probabilities(asset_feature(frames)[None, :])[0],
            model.thresholds,
            self.settings.min_custom_confidence,
        )
        keep = np.flatnonzero(confidence >= self.settings.custom_store_min_confidence)
        segments = self._segments(frames, stamps, media_type, duration_s, keep)
        tags = [
            SmartTag(
                tag=model.tags[i],
                kind=TagKind.custom,
                confidence=float(confidence[i]),
                segments=segments.get(i, []),
            )
            for i in keep
        ]
        return sorted(tags, key=lambda t: (-t.confidence, t.tag))

    def _probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.classifiers.weights.T + self.classifiers.bias
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def _segments(
        self,
        frames: np.ndarray,
        stamps: Sequence[float],
        media_type: MediaType | str,
        duration_s: float | None,
        keep: np.ndarray,
    ) -> dict[int, list[tuple[float, float]]]:
        if MediaType(media_type) is not MediaType.video or len(keep) == 0:
            return {}
        times = np.asarray(stamps, dtype=np.float64)
        order = np.argsort(times, kind="stable")
        spans = frame_spans(times[order], duration_s)
        per_frame = self._probabilities(frames[order])
        found = {}
        for i in keep:
            holds = per_frame[:, i] >= self.classifiers.thresholds[i]
            found[int(i)] = merged_segments(spans[holds], self.settings)
        return found


def apply_custom_tags(asset: Asset, tags: list[SmartTag], run_id: str, now: datetime) -> Asset:
    """The asset with its custom smart tags replaced, and the tagging recorded."""
    kept = [t for t in asset.smart_tags if t.kind is not TagKind.custom]
    data = asset.model_dump()
    data.update(
        smart_tags=[*(t.model_dump() for t in kept), *(t.model_dump() for t in tags)],
        custom_run=run_id,
        custom_tagged_at=now,
        custom_content_hash=asset.content_hash,
        updated_at=now,
    )
    return Asset.model_validate(data)
