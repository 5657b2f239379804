"""Trained custom-tag classifiers of a run: ``classifiers.npz`` beside its ``run.json``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.settings import Settings
from catalog.training_runs import CLASSIFIERS_FILE, runs_root
from indexer.embedding_cache import load_npz, save_npz_atomic


@dataclass(frozen=True)
class Classifiers:
    """Linear classifiers over unit-length asset embeddings: p = sigmoid(x . w + b)."""

    tags: list[str]
    weights: np.ndarray  # K x D float32
    bias: np.ndarray  # K float32
    thresholds: np.ndarray  # K: the probability each tag's best-F1 operating point needs

    @classmethod
    def empty(cls, dim: int = 0) -> Classifiers:
        return cls([], np.zeros((0, dim), np.float32), np.zeros(0, np.float32), np.zeros(0))


def save_classifiers(settings: Settings, run_id: str, classifiers: Classifiers) -> None:
    save_npz_atomic(
        runs_root(settings) / run_id / CLASSIFIERS_FILE,
        tags=np.array(classifiers.tags, dtype=str),
        weights=classifiers.weights.astype(np.float32),
        bias=classifiers.bias.astype(np.float32),
        thresholds=classifiers.thresholds.astype(np.float64),
    )


def load_classifiers(settings: Settings, run_id: str) -> Classifiers | None:
    arrays = load_npz(runs_root(settings) / run_id / CLASSIFIERS_FILE)
    if arrays is None:
        return None
    return Classifiers(
        tags=[str(t) for t in arrays["tags"]],
        weights=arrays["weights"].astype(np.float32),
        bias=arrays["bias"].astype(np.float32),
        thresholds=arrays["thresholds"].astype(np.float64),
    )
