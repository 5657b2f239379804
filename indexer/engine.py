"""The model side of indexing: encode frames, score them into tags, remember embeddings.

It also says when a file needs processing again: the fingerprint covers the file (size and
modification time), the model, how frames are sampled and how candidate tags are scored (not
the thresholds, which choose among the stored candidates at query time).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from catalog.asset import MediaType, SmartTag
from catalog.settings import Settings
from catalog.vectors import AssetVectors
from indexer.asset_vectors import asset_vectors, vocabulary_matrix
from indexer.embedding_cache import EmbeddingCache, content_hash
from indexer.encoder import Encoder, load_encoder
from indexer.tagger import tag_frames
from indexer.vocabulary import LabelEmbeddings, load_label_embeddings

# what the one-time preparation is doing: (what, done, total); total 0 when unknown
Preparing = Callable[[str, int, int], None]

SAMPLING_SETTINGS = (
    "frame_mode",
    "scene_threshold",
    "max_frame_gap_s",
    "max_frames_per_s",
    "max_frames_per_video",
    "frame_scaler",
)
# what the stored candidates depend on; the thresholds are not here: they apply at query time
TAGGING_SETTINGS = (
    "tag_storage_floor",
    "segment_confidence",
    "tag_calibration",
    "tag_topk_fraction",
    "tag_topk_min",
    "tag_topk_max",
    "action_window_s",
    "action_stride_s",
    "segment_merge_gap_s",
    "segment_min_s",
    "max_tags_per_asset",
)


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TaggingEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = EmbeddingCache(settings)
        self._model: Encoder | None = None
        self._vocabularies: list[LabelEmbeddings] = []
        self._labels: np.ndarray | None = None

    def prepare(self, progress: Preparing | None = None) -> None:
        """Load the model and the vocabularies' text embeddings (once); the first run on a
        machine also exports the model and measures the runtimes, saying so to `progress`."""
        if self._model is None:
            report = progress or (lambda what, done, total: None)
            model = load_encoder(self.settings, lambda what: report(what, 0, 0))
            self._vocabularies = load_label_embeddings(model, self.settings, report)
            self._model = model

    @property
    def model(self) -> Encoder:
        self.prepare()
        assert self._model is not None
        return self._model

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def vocabularies(self) -> list[LabelEmbeddings]:
        """The label embeddings of each vocabulary kind, as tagging scores against them."""
        self.prepare()
        return list(self._vocabularies)

    @property
    def sampling_key(self) -> str:
        values = {name: getattr(self.settings, name) for name in SAMPLING_SETTINGS}
        return _digest({**values, "size": self.image_size})

    @property
    def tagging_key(self) -> str:
        values = {name: getattr(self.settings, name) for name in TAGGING_SETTINGS}
        vocabularies = [(v.kind, v.vocabulary_hash) for v in self._vocabularies]
        return _digest({**values, "vocabularies": vocabularies})

    def fingerprint(self, path: Path) -> str:
        stat = path.stat()
        return _digest(
            [stat.st_size, stat.st_mtime_ns, self.model_id, self.sampling_key, self.tagging_key]
        )

    def content_hash(self, path: Path) -> str:
        return content_hash(path, self.settings)

    def cached_embeddings(self, digest: str) -> tuple[np.ndarray, list[float]] | None:
        record = self.cache.get(digest, self.model_id, self.sampling_key)
        if record is None:
            return None
        return record.frames.astype(np.float32), record.timestamps.tolist()

    def store_embeddings(
        self, digest: str, frames: np.ndarray, stamps: Sequence[float]
    ) -> np.ndarray:
        """Cache the frame embeddings; returns them as the cache will give them back."""
        record = self.cache.put(digest, self.model_id, frames, list(stamps), self.sampling_key)
        return record.frames.astype(np.float32)

    def encode(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        return self.model.encode_images(np.stack(frames))

    def tag(
        self,
        frames: np.ndarray,
        stamps: Sequence[float],
        duration_s: float | None,
        media_type: MediaType,
    ) -> list[SmartTag]:
        self.prepare()
        return tag_frames(frames, stamps, duration_s, media_type, self._vocabularies, self.settings)

    def vectors(
        self,
        frames: np.ndarray,
        stamps: Sequence[float],
        duration_s: float | None,
        media_type: MediaType,
    ) -> AssetVectors:
        """The asset's vectors for semantic search (indexer/asset_vectors.py)."""
        self.prepare()
        if self._labels is None:
            self._labels = vocabulary_matrix(self._vocabularies)
        return asset_vectors(frames, stamps, duration_s, media_type, self._labels, self.model_id)
