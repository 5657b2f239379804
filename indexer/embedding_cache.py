"""Frame embeddings kept on disk per asset content and model, so re-tagging never re-decodes.

A record holds the frame embeddings of one asset under one model, their timestamps and the
pooled asset embedding. It lives at
``data_dir/cache/embeddings/<model>/<hash[:2]>/<content hash>[-<sampling>].npz`` and is
written atomically (temporary file, then ``os.replace``); a file that cannot be read back
whole is a miss, never an error.

Content hash: SHA-256 (hardware-accelerated on current CPUs, faster here than BLAKE2b) of
the file size plus either the whole content (files up to ``content_hash_full_max_mb``) or
``content_hash_samples`` evenly spaced chunks of ``content_hash_sample_kb`` including the first
and the last. Reading a multi-GB video in full would cost more than the tagging it saves.
Two different encodings of a video differ throughout, so sampled chunks tell them apart;
an edit that keeps the size and all the samples (a metadata byte patched in place) leaves the
pictures unchanged, and the cached embeddings remain right for them.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from catalog.settings import Settings
from indexer.tagger import pooled_embedding

_FULL_READ_BYTES = 1 << 20
_FORMAT_VERSION = 1
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_MAX_CHARS = 64
_KEY_HASH_CHARS = 12


@dataclass(frozen=True)
class AssetEmbeddings:
    content_hash: str
    model_id: str
    frames: np.ndarray  # T x D, the cache's storage dtype
    timestamps: np.ndarray  # T seconds, float64
    pooled: np.ndarray  # D, float32, unit length


def content_hash(path: Path, settings: Settings) -> str:
    """Identity of a media file's bytes (see the module docstring for the sampling rule)."""
    size = os.stat(path).st_size
    digest = hashlib.sha256(f"size:{size};".encode())
    with open(path, "rb") as handle:
        if size <= settings.content_hash_full_max_mb * (1 << 20):
            while chunk := handle.read(_FULL_READ_BYTES):
                digest.update(chunk)
        else:
            for chunk in _sampled_chunks(handle, size, settings):
                digest.update(chunk)
    return digest.hexdigest()


def _sampled_chunks(handle: BinaryIO, size: int, settings: Settings) -> Iterator[bytes]:
    chunk = settings.content_hash_sample_kb * 1024
    count = settings.content_hash_samples
    yield f"samples:{count}x{chunk};".encode()
    for offset in np.linspace(0, max(size - chunk, 0), count).astype(np.int64):
        handle.seek(int(offset))
        yield handle.read(chunk)


class EmbeddingCache:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "cache" / "embeddings"
        self._dtype = np.dtype(settings.embedding_cache_dtype)

    def path_for(self, content_hash: str, model_id: str, sampling: str = "") -> Path:
        """`sampling` names how frames were chosen, so a change of frame settings misses."""
        name = content_hash + (f"-{key_hash(sampling)}" if sampling else "")
        return self.root / model_slug(model_id) / content_hash[:2] / f"{name}.npz"

    def get(self, content_hash: str, model_id: str, sampling: str = "") -> AssetEmbeddings | None:
        arrays = load_npz(self.path_for(content_hash, model_id, sampling))
        if arrays is None:
            return None
        return _record_from(arrays, content_hash, model_id)

    def put(
        self,
        content_hash: str,
        model_id: str,
        frame_embeddings: np.ndarray,
        timestamps: list[float] | np.ndarray,
        sampling: str = "",
    ) -> AssetEmbeddings:
        """Store the frames and return the record exactly as `get` will give it back."""
        record = AssetEmbeddings(
            content_hash=content_hash,
            model_id=model_id,
            frames=np.asarray(frame_embeddings).astype(self._dtype),
            timestamps=np.asarray(timestamps, dtype=np.float64),
            pooled=pooled_embedding(np.asarray(frame_embeddings, dtype=np.float32)),
        )
        if len(record.timestamps) != len(record.frames):
            raise ValueError("one timestamp per frame embedding is needed")
        save_npz_atomic(
            self.path_for(content_hash, model_id, sampling),
            version=np.array(_FORMAT_VERSION),
            content_hash=np.array(content_hash),
            model_id=np.array(model_id),
            frames=record.frames,
            timestamps=record.timestamps,
            pooled=record.pooled,
        )
        return record


def _record_from(
    arrays: dict[str, np.ndarray], content_hash: str, model_id: str
) -> AssetEmbeddings | None:
    try:
        if (
            int(arrays["version"]) != _FORMAT_VERSION
            or str(arrays["content_hash"]) != content_hash
            or str(arrays["model_id"]) != model_id
        ):
            return None
        frames, timestamps, pooled = arrays["frames"], arrays["timestamps"], arrays["pooled"]
    except (KeyError, TypeError, ValueError):
        return None
    if frames.ndim != 2 or timestamps.shape != (len(frames),) or pooled.shape != frames.shape[1:]:
        return None
    return AssetEmbeddings(content_hash, model_id, frames, timestamps, pooled)


def model_slug(model_id: str) -> str:
    """A directory name for a model: readable, and unique through a hash of the full id."""
    readable = _SLUG_UNSAFE.sub("_", model_id)[:_SLUG_MAX_CHARS]
    return f"{readable}-{key_hash(model_id)}"


def key_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_KEY_HASH_CHARS]


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write arrays to `path` so that readers see the old file or the new one, never a part.

    No fsync: after a power cut the file may be empty or torn, which `load_npz` reads as a
    miss, and the cache refills; an fsync per asset would cost more than the rest of its
    write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """All arrays of an npz file, or None when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
