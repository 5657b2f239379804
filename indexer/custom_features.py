"""Frame embeddings for training and custom tagging: from the cache, else embedded once.

The cache is keyed by content hash and model, so an asset is read and encoded only the first
time (or after its content changed): later runs find it there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catalog.asset import Asset
from catalog.settings import Settings
from indexer.engine import TaggingEngine
from indexer.ffmpeg_tools import FfmpegNotFound

FrameEmbeddings = tuple[np.ndarray, list[float]]


class FeatureError(Exception):
    """This asset's embeddings cannot be had (the message says why); the run goes on."""


class FeatureSource:
    def __init__(self, settings: Settings, engine: TaggingEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.cached = 0
        self.embedded = 0

    def frames(self, asset: Asset) -> FrameEmbeddings:
        if not asset.content_hash:
            raise FeatureError("the asset was never indexed (no content hash)")
        found = self.engine.cached_embeddings(asset.content_hash)
        if found is not None:
            self.cached += 1
            return found
        try:
            found = self._embed(asset, asset.content_hash)
        except (FeatureError, FfmpegNotFound):
            raise  # FfmpegNotFound: a setup problem, not this asset's; it ends the run
        except OSError as exc:
            raise FeatureError(f"{exc.filename or asset.path}: {exc.strerror or exc}") from None
        except Exception as exc:  # one bad file must not stop the run
            raise FeatureError(f"{type(exc).__name__}: {exc}") from None
        self.embedded += 1
        return found

    def _embed(self, asset: Asset, digest: str) -> FrameEmbeddings:
        from indexer.frames import iter_frames
        from indexer.probe import MediaRejected, probe

        path = self._source_file(asset)
        if self.engine.content_hash(path) != digest:
            raise FeatureError(f"{path} changed since it was indexed: index it again")
        batches: list[np.ndarray] = []
        stamps: list[float] = []
        chunk: list[np.ndarray] = []
        size = self.engine.image_size
        try:
            for frame in iter_frames(path, probe(path, self.settings), self.settings, size):
                chunk.append(frame.rgb)
                stamps.append(frame.timestamp_s)
                if len(chunk) >= self.settings.encode_batch_size:
                    batches.append(self.engine.encode(chunk))
                    chunk = []
        except MediaRejected as exc:
            raise FeatureError(str(exc)) from None
        if chunk:
            batches.append(self.engine.encode(chunk))
        if not batches:
            raise FeatureError(f"{path}: no frame could be decoded")
        return self.engine.store_embeddings(digest, np.concatenate(batches), stamps), stamps

    @staticmethod
    def _source_file(asset: Asset) -> Path:
        if not asset.library_root:
            raise FeatureError("no cached embeddings, and no library root to read the file from")
        path = Path(asset.library_root) / asset.path
        if not path.is_file():
            raise FeatureError(f"no such file: {path}")
        return path
