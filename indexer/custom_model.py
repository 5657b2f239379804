"""One business tag's classifier: fit, cross-validate, pick its threshold, judge its positives.

- Features are unit-length CLIP asset embeddings (see indexer/custom_tags.py).
- Classifier: logistic regression with balanced class weights (a tag is usually rare: the
  loss weighs positives and negatives as two equal halves) and L2 strength
  1/custom_regularization, on standardised features. CLIP embeddings sit in a narrow cone, so
  raw coordinates differ by little and one C would mean different things for different models;
  standardising first makes C comparable. The scaler is folded into the weights afterwards, so
  a stored classifier is just w and b over the unit embedding.
- Metrics: stratified k-fold out-of-fold probabilities, k = min(custom_cv_folds, positives,
  negatives). The threshold is the operating point with the best F1 on those held-out
  predictions, placed midway between the lowest score it accepts and the highest it rejects
  (the same held-out F1, with the widest margin for new assets); precision, recall and F1 are
  reported at it.
- Coherence: how much tighter the positives sit around their centroid than the assets in scope
  sit around theirs (see `coherence`): 1.0 when they all look alike, near 0 when the tag
  covers things as varied as the library itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.settings import Settings
from indexer.custom_tags import unit_rows


@dataclass(frozen=True)
class Evaluation:
    precision: float
    recall: float
    f1: float
    threshold: float


@dataclass(frozen=True)
class LinearModel:
    weights: np.ndarray  # D
    bias: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(features @ self.weights + self.bias)))


def fit(features: np.ndarray, labels: np.ndarray, settings: Settings) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    classifier = LogisticRegression(
        class_weight="balanced",
        C=settings.custom_regularization,
        max_iter=settings.custom_max_iter,
    )
    classifier.fit((features - mean) / scale, labels)
    weights = classifier.coef_[0] / scale
    bias = float(classifier.intercept_[0] - weights @ mean)
    return LinearModel(weights.astype(np.float32), bias)


def can_fit(labels: np.ndarray, settings: Settings) -> bool:
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return positives >= settings.custom_min_positives_to_fit and negatives >= 2


def cross_validate(features: np.ndarray, labels: np.ndarray, settings: Settings) -> Evaluation:
    """Held-out metrics at the best-F1 threshold (needs `can_fit`)."""
    from sklearn.model_selection import StratifiedKFold

    positives = int(labels.sum())
    folds = min(settings.custom_cv_folds, positives, len(labels) - positives)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=settings.custom_random_seed)
    held_out = np.zeros(len(labels))
    for train, test in splitter.split(features, labels):
        held_out[test] = fit(features[train], labels[train], settings).probabilities(features[test])
    return best_f1_threshold(held_out, labels)


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> Evaluation:
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order].astype(bool)
    true_pos = np.cumsum(hits)
    accepted = np.arange(1, len(ranked) + 1)
    # only cut between distinct scores: equal scores are accepted or rejected together
    cuts = np.flatnonzero(np.append(ranked[1:] < ranked[:-1], True))
    precision = true_pos[cuts] / accepted[cuts]
    recall = true_pos[cuts] / max(int(hits.sum()), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1))
    cut = cuts[best]
    rejected = ranked[cut + 1] if cut + 1 < len(ranked) else 0.0
    return Evaluation(
        precision=float(precision[best]),
        recall=float(recall[best]),
        f1=float(f1[best]),
        threshold=float((ranked[cut] + rejected) / 2),
    )


def spread(features: np.ndarray) -> float:
    """1 - mean cosine similarity to the (unit) centroid: 0 when all are alike."""
    unit = unit_rows(features)
    centroid = unit_rows(unit.mean(axis=0, keepdims=True))[0]
    return float(1.0 - (unit @ centroid).mean())


def coherence(positives: np.ndarray, scope: np.ndarray) -> float | None:
    """1 - spread(positives) / spread(scope), in [0, 1]: 1 when the positives all look alike,
    0 when they are as varied as the assets in scope at large. Relative, because a model's
    embeddings fill a narrow cone whose width differs between models."""
    if len(positives) < 2:
        return None
    whole = spread(scope)
    if whole <= 0:
        return 1.0
    return float(np.clip(1.0 - spread(positives) / whole, 0.0, 1.0))
