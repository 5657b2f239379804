"""Frame embeddings in, smart tags out: scores, robust aggregation over time, segments.

Pure numpy: the embeddings come from the model or from the embedding cache, so re-tagging
with new thresholds or vocabularies needs neither torch nor the media.

- Object, scene and attribute labels (and any kind other than action) are scored per frame.
- Action labels are scored per temporal window: the frames of each window of
  ``action_window_s`` (every ``action_stride_s``) are pooled, because an action is a
  movement over time more than the look of one frame. An image is a single window.
- A tag's confidence over a video is the mean of its top-k frame (window) confidences,
  k = clamp(ceil(tag_topk_fraction x count), tag_topk_min, tag_topk_max), never above the
  count: one lucky frame does not make a tag, and a tag seen in a short part of a long
  video is not diluted by the rest of it.
- Every label at or above ``tag_storage_floor`` is kept as a candidate, with its confidence
  and segments: the thresholds (per kind, and learned per tag) apply at query time, so the
  stored tags do not depend on them and a threshold change reprocesses nothing.
- A frame covers half the gap to each neighbour; a tag's segments are the merged time ranges
  of the frames (windows) where its own confidence reaches ``segment_confidence``, or the
  tag's overall confidence where that is lower (so a weak candidate still says where it is).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from catalog.asset import MediaType, SmartTag, TagKind
from catalog.settings import Settings
from indexer.calibration import calibration_for

if TYPE_CHECKING:  # vocabulary imports the cache helpers, which import this module
    from indexer.vocabulary import LabelEmbeddings

Spans = np.ndarray  # U x 2: start and end second of each scored unit (frame or window)


def pooled_embedding(frame_embeddings: np.ndarray) -> np.ndarray:
    """The asset-level embedding: mean of the frame embeddings, back to unit length."""
    frames = np.asarray(frame_embeddings, dtype=np.float32)
    if frames.ndim != 2 or len(frames) == 0:
        raise ValueError("pooling needs a non-empty T x D array of frame embeddings")
    return _unit(frames.mean(axis=0))


def tag_frames(
    frame_embeddings: np.ndarray,
    timestamps: Sequence[float],
    duration_s: float | None,
    media_type: MediaType | str,
    vocabularies: Sequence[LabelEmbeddings],
    settings: Settings,
) -> list[SmartTag]:
    """Candidate tags of one asset, best first: at most one per name and
    max_tags_per_asset, each at or above the storage floor."""
    frames, times = _sorted_frames(frame_embeddings, timestamps)
    if len(frames) == 0:
        return []
    is_video = MediaType(media_type) == MediaType.video
    spans = frame_spans(times, duration_s) if is_video else None
    tags: list[SmartTag] = []
    for vocabulary in vocabularies:
        similarities, unit_spans = _unit_similarities(frames, times, spans, vocabulary, settings)
        confidences = calibration_for(settings).confidences(similarities)
        tags += _kind_tags(vocabulary, confidences, unit_spans, settings)
    return _best_first(tags, settings.max_tags_per_asset)


def unit_similarities(
    frame_embeddings: np.ndarray,
    timestamps: Sequence[float],
    duration_s: float | None,
    media_type: MediaType | str,
    vocabulary: LabelEmbeddings,
    settings: Settings,
) -> np.ndarray:
    """Similarities (units x labels) of an asset's scored units (frames, or action windows)
    to a vocabulary: what the calibration turns into confidences (a fit reads them)."""
    frames, times = _sorted_frames(frame_embeddings, timestamps)
    is_video = MediaType(media_type) == MediaType.video
    spans = frame_spans(times, duration_s) if is_video and len(frames) else None
    return _unit_similarities(frames, times, spans, vocabulary, settings)[0]


def _unit_similarities(
    frames: np.ndarray,
    times: np.ndarray,
    spans: Spans | None,
    vocabulary: LabelEmbeddings,
    settings: Settings,
) -> tuple[np.ndarray, Spans | None]:
    _check_dims(frames, vocabulary)
    if vocabulary.kind == TagKind.action:
        units, unit_spans = _action_windows(frames, times, spans, settings)
    else:
        units, unit_spans = frames, spans
    return units @ vocabulary.vectors.T, unit_spans


def _sorted_frames(
    frame_embeddings: np.ndarray, timestamps: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(frame_embeddings, dtype=np.float32)
    times = np.asarray(timestamps, dtype=np.float64)
    if frames.ndim != 2 or times.shape != (len(frames),):
        raise ValueError("frame embeddings must be T x D with one timestamp per frame")
    order = np.argsort(times, kind="stable")
    return frames[order], times[order]


def _check_dims(frames: np.ndarray, vocabulary: LabelEmbeddings) -> None:
    if vocabulary.vectors.shape[1] != frames.shape[1]:
        raise ValueError(
            f"{vocabulary.kind} label embeddings have dimension {vocabulary.vectors.shape[1]}, "
            f"frames {frames.shape[1]}: were they made by another model?"
        )


def frame_spans(times: np.ndarray, duration_s: float | None) -> Spans:
    """The time range each frame stands for: half the gap to each neighbour, inside the video."""
    if len(times) == 1:
        end = duration_s if duration_s is not None else times[0]
        return np.array([[0.0, end]])
    middles = (times[:-1] + times[1:]) / 2
    starts = np.concatenate([[2 * times[0] - middles[0]], middles])
    ends = np.concatenate([middles, [2 * times[-1] - middles[-1]]])
    limit = duration_s if duration_s is not None else ends[-1]
    return np.clip(np.stack([starts, ends], axis=1), 0.0, max(limit, 0.0))


def _action_windows(
    frames: np.ndarray, times: np.ndarray, spans: Spans | None, settings: Settings
) -> tuple[np.ndarray, Spans | None]:
    if spans is None:
        return pooled_embedding(frames)[None, :], None
    members = window_members(times, settings.action_window_s, settings.action_stride_s)
    pooled = np.stack([pooled_embedding(frames[m]) for m in members])
    window_spans = np.array([[spans[m, 0].min(), spans[m, 1].max()] for m in members])
    return pooled, window_spans


def window_members(times: np.ndarray, window_s: float, stride_s: float) -> list[np.ndarray]:
    """Frame indices of each window; windows without frames, or repeating the last, are left out."""
    first, last = float(times[0]), float(times[-1])
    count = 1 if last - first <= window_s else math.ceil((last - first - window_s) / stride_s) + 1
    members: list[np.ndarray] = []
    for start in first + stride_s * np.arange(count):
        inside = np.flatnonzero((times >= start) & (times <= start + window_s))
        if len(inside) and not (members and np.array_equal(members[-1], inside)):
            members.append(inside)
    return members


def _kind_tags(
    vocabulary: LabelEmbeddings, confidences: np.ndarray, spans: Spans | None, settings: Settings
) -> list[SmartTag]:
    overall = top_k_mean(confidences, settings)
    tags = []
    for index in np.flatnonzero(overall >= settings.tag_storage_floor):
        level = min(settings.segment_confidence, float(overall[index]))
        holds = confidences[:, index] >= level
        segments = [] if spans is None else merged_segments(spans[holds], settings)
        tags.append(
            SmartTag(
                tag=vocabulary.labels[index],
                kind=vocabulary.kind,
                confidence=float(overall[index]),
                segments=segments,
            )
        )
    return tags


def top_k_mean(confidences: np.ndarray, settings: Settings) -> np.ndarray:
    """Per label (column), the mean of its k best rows (see the module docstring for k)."""
    count = len(confidences)
    wanted = math.ceil(settings.tag_topk_fraction * count)
    k = min(count, max(settings.tag_topk_min, min(wanted, settings.tag_topk_max)))
    best = np.partition(confidences, count - k, axis=0)[count - k :]
    return np.clip(best.mean(axis=0), 0.0, 1.0)


def merged_segments(spans: Spans, settings: Settings) -> list[tuple[float, float]]:
    """Time-ordered spans merged across gaps below segment_merge_gap_s; short ones dropped."""
    merged: list[list[float]] = []
    for start, end in spans[np.argsort(spans[:, 0], kind="stable")]:
        if merged and start - merged[-1][1] < settings.segment_merge_gap_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return []
    kept = [s for s in merged if s[1] - s[0] >= settings.segment_min_s]
    # A confident tag keeps its longest stretch even when every stretch is short.
    kept = kept or [max(merged, key=lambda s: s[1] - s[0])]
    return [(float(start), float(end)) for start, end in kept]


def _best_first(tags: list[SmartTag], limit: int) -> list[SmartTag]:
    best: dict[str, SmartTag] = {}
    for tag in tags:
        if tag.tag not in best or tag.confidence > best[tag.tag].confidence:
            best[tag.tag] = tag
    return sorted(best.values(), key=lambda t: (-t.confidence, t.tag))[:limit]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)
