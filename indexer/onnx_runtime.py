"""The exported towers on ONNX Runtime: uint8 frames or texts in, unit vectors out. No torch.

The image graph takes N x S x S x 3 uint8 frames and does the model's pixel normalization
itself; both graphs end with the division to unit length, so a session's output is final.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

IMAGE_INPUT = "frames"
TEXT_INPUT = "tokens"
OUTPUT = "embeddings"
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def open_session(path: Path, threads: int | None, device: str = "cpu"):
    """An inference session on the CPU (or CUDA, falling back to the CPU for missing ops)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle runtime threads sleep instead of spinning: the decoding threads need those cores
    # between two batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = [CUDA_PROVIDER, CPU_PROVIDER] if device == "cuda" else [CPU_PROVIDER]
    return ort.InferenceSession(str(path), options, providers=providers)


class OnnxImageEncoder:
    def __init__(self, path: Path, image_size: int, embed_dim: int, batch_size: int, **session):
        self._session = open_session(path, **session)
        self.image_size = image_size
        self.embed_dim = embed_dim
        self._batch_size = batch_size

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 frames (already at the model's input size) -> N x D unit rows."""
        check_frames(batch, self.image_size)
        chunks = [
            self._session.run(None, {IMAGE_INPUT: np.ascontiguousarray(part)})[0]
            for part in _chunks(batch, self._batch_size)
        ]
        return concat_rows(chunks, self.embed_dim)


class OnnxTextEncoder:
    """Texts -> unit rows. With `trim`, each batch is cut after its longest text's end token
    (the causal tower reads its output there, so the padding after it changes nothing), and
    texts are batched by length so that short prompts do not pay for long ones."""

    def __init__(
        self,
        path: Path,
        tokenizer: Callable[[list[str]], np.ndarray],
        end_id: int,
        embed_dim: int,
        batch_size: int,
        trim: bool,
        **session,
    ):
        self._session = open_session(path, **session)
        self._tokenizer = tokenizer
        self._end_id = end_id
        self.embed_dim = embed_dim
        self._batch_size = batch_size
        self._trim = trim

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts))
        lengths = (tokens == self._end_id).argmax(axis=1) + 1  # the pad id is a real token
        order = np.argsort(lengths, kind="stable") if self._trim else np.arange(len(texts))
        out = np.empty((len(texts), self.embed_dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            picked = order[start : start + self._batch_size]
            rows = tokens[picked]
            if self._trim:
                rows = rows[:, : int(lengths[picked].max())]
            out[picked] = self._session.run(None, {TEXT_INPUT: rows})[0]
        return out


def check_frames(batch: np.ndarray, size: int) -> None:
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != (size, size, 3):
        raise ValueError(
            f"frames must be uint8 N x {size} x {size} x 3, got {batch.dtype} {batch.shape}"
        )


def _chunks(batch: np.ndarray, size: int) -> list[np.ndarray]:
    return [batch[start : start + size] for start in range(0, len(batch), size)]


def concat_rows(chunks: list[np.ndarray], dim: int) -> np.ndarray:
    if not chunks:
        return np.zeros((0, dim), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
