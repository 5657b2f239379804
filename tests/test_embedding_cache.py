"""The on-disk cache of frame embeddings, and the content hash that keys it."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.settings import Settings
from indexer import embedding_cache
from indexer.embedding_cache import EmbeddingCache, content_hash
from indexer.tagger import pooled_embedding

MODEL_ID = "ViT-B-32-1234abcd/laion2b_s34b_b79k"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _embeddings(count: int = 9, dim: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_content_hash_follows_the_bytes(tmp_path, settings):
    data = np.random.default_rng(0).bytes(300_000)
    first = content_hash(_write(tmp_path / "a.mp4", data), settings)
    assert first == content_hash(_write(tmp_path / "copy.mp4", data), settings)
    changed = data[:150_000] + b"x" + data[150_001:]
    assert content_hash(_write(tmp_path / "b.mp4", changed), settings) != first
    assert content_hash(_write(tmp_path / "c.mp4", data + b"\0"), settings) != first
    assert len(first) == 64


def test_big_files_are_hashed_by_size_and_samples(tmp_path):
    sampled = Settings(
        data_dir=tmp_path,
        content_hash_full_max_mb=0.1,
        content_hash_samples=4,
        content_hash_sample_kb=1,
    )
    data = bytearray(np.random.default_rng(1).bytes(400_000))
    base = content_hash(_write(tmp_path / "big.mov", bytes(data)), sampled)
    data[200_000] ^= 0xFF  # between the samples at 0, 133 kB, 266 kB and the end
    assert content_hash(_write(tmp_path / "patched.mov", bytes(data)), sampled) == base
    data[10] ^= 0xFF  # inside the first sample
    assert content_hash(_write(tmp_path / "edited.mov", bytes(data)), sampled) != base
    full = Settings(data_dir=tmp_path)
    assert content_hash(tmp_path / "patched.mov", full) != content_hash(tmp_path / "big.mov", full)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip_is_exact(settings, dtype):
    cache = EmbeddingCache(settings.model_copy(update={"embedding_cache_dtype": dtype}))
    frames = _embeddings()
    timestamps = [0.5 * i for i in range(9)]
    stored = cache.put("ab" * 32, MODEL_ID, frames, timestamps)
    loaded = cache.get("ab" * 32, MODEL_ID)
    assert loaded is not None
    assert loaded.frames.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.frames, stored.frames)
    np.testing.assert_array_equal(loaded.timestamps, timestamps)
    np.testing.assert_array_equal(loaded.pooled, stored.pooled)
    np.testing.assert_allclose(loaded.pooled, pooled_embedding(frames), atol=1e-6)
    np.testing.assert_allclose(loaded.frames, frames, atol=1e-3)
    assert (loaded.content_hash, loaded.model_id) == ("ab" * 32, MODEL_ID)


def test_records_are_kept_per_content_model_and_sampling(settings):
    cache = EmbeddingCache(settings)
    cache.put("cd" * 32, MODEL_ID, _embeddings(), list(range(9)))
    assert cache.get("cd" * 32, MODEL_ID) is not None
    assert cache.get("ef" * 32, MODEL_ID) is None
    assert cache.get("cd" * 32, "ViT-B-16-99999999/openai") is None
    assert cache.get("cd" * 32, MODEL_ID, sampling="keyframes;gap=2") is None
    cache.put("cd" * 32, MODEL_ID, _embeddings(seed=5), list(range(9)), sampling="keyframes;gap=2")
    other = cache.get("cd" * 32, MODEL_ID, sampling="keyframes;gap=2")
    assert other is not None and not np.array_equal(
        other.frames, cache.get("cd" * 32, MODEL_ID).frames
    )
    assert cache.path_for("cd" * 32, MODEL_ID).is_relative_to(
        settings.data_dir / "cache" / "embeddings"
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: b"",  # empty
        lambda data: b"garbage" * 100,  # not a zip at all
        lambda data: data[:100] + bytes(len(data) - 100),  # zeroed after the header
    ],
)
def test_a_corrupt_file_is_a_miss_and_gets_replaced(settings, damage):
    cache = EmbeddingCache(settings)
    cache.put("0f" * 32, MODEL_ID, _embeddings(), list(range(9)))
    path = cache.path_for("0f" * 32, MODEL_ID)
    path.write_bytes(damage(path.read_bytes()))
    assert cache.get("0f" * 32, MODEL_ID) is None
    cache.put("0f" * 32, MODEL_ID, _embeddings(), list(range(9)))
    assert cache.get("0f" * 32, MODEL_ID) is not None


def test_inconsistent_arrays_are_a_miss(settings):
    cache = EmbeddingCache(settings)
    path = cache.path_for("aa" * 32, MODEL_ID)
    embedding_cache.save_npz_atomic(
        path,
        version=np.array(1),
        content_hash=np.array("aa" * 32),
        model_id=np.array(MODEL_ID),
        frames=_embeddings(),
        timestamps=np.arange(4.0),  # 4 timestamps for 9 frames
        pooled=np.zeros(16, dtype=np.float32),
    )
    assert cache.get("aa" * 32, MODEL_ID) is None


def test_writes_are_atomic(settings, monkeypatch):
    cache = EmbeddingCache(settings)
    cache.put("bb" * 32, MODEL_ID, _embeddings(seed=1), list(range(9)))
    before = cache.get("bb" * 32, MODEL_ID)

    def failing_savez(handle, **arrays):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(embedding_cache.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        cache.put("bb" * 32, MODEL_ID, _embeddings(seed=2), list(range(9)))
    after = cache.get("bb" * 32, MODEL_ID)
    assert after is not None
    np.testing.assert_array_equal(after.frames, before.frames)
    leftovers = [p.name for p in cache.path_for("bb" * 32, MODEL_ID).parent.iterdir()]
    assert leftovers == [f"{'bb' * 32}.npz"]


def test_put_checks_one_timestamp_per_frame(settings):
    with pytest.raises(ValueError, match="timestamp"):
        EmbeddingCache(settings).put("cc" * 32, MODEL_ID, _embeddings(), [0.0, 1.0])
