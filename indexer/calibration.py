"""From CLIP similarities to confidences that mean the same across tags, assets and models.

Zero-shot CLIP cosine similarities are not probabilities. They sit in a narrow band whose
position and width depend on the model (ViT-B-32 gives most labels 0.1-0.2 and a good match
about 0.3; other models shift and stretch that band), and every image adds an offset of its
own (some images are close to every text). A fixed threshold on raw similarities would mean
something different for each image, tag and model.

The mapping, applied per frame (or per action window) against one vocabulary kind:

1. Robust z-score against the vocabulary: ``z = (s - median(S)) / (1.4826 * MAD(S))``, where
   ``S`` holds the similarities of that frame to every label of the vocabulary. Most labels
   of a large vocabulary are unrelated to any one image, so the median and the MAD describe
   "an unrelated label, for this image and this model". Median and MAD rather than mean and
   standard deviation, so that the few true matches do not raise the bar for each other.
2. Logistic: ``confidence = 1 / (1 + exp(-(z - center) / scale))``, with ``(center, scale)``
   per model in ``Settings.tag_calibration`` (keys ``"model/pretrained"``, ``"model"``, then
   ``"default"``).

The default (center 3.5, scale 0.7) puts confidence 0.5 at z = 3.5 and 0.7, the default
threshold, at z of about 4.1: a label must stand about four robust standard deviations above
a typical unrelated label, beyond what the best of a thousand unrelated labels reaches by
chance (about 3.2 for Gaussian noise). z = 6 gives 0.97, z = 3 gives 0.33.

Properties (tested): confidences lie in [0, 1]; they rise with a label's similarity; they
do not change when all similarities of a frame are shifted by a constant or multiplied by a
positive factor, which is what lets one threshold serve models with different similarity
ranges; the order of labels within a frame is the order of their similarities.

Why not a softmax over the vocabulary (with the model's logit scale and a background
column): softmax scores compete, so a frame with a dog on a beach at sunset splits its mass
among the three, and a label's confidence drops when the vocabulary gains a synonym.
Tagging is multi-label; each label needs a score of its own.

SigLIP-family models (a logit bias, trained with a sigmoid per image-text pair): their own
score for a pair is ``sigmoid(t * cos + b)`` with the model's logit scale ``t`` and bias ``b``.
The pair logit ``t * cos + b`` is an increasing affine function of the cosine, and the robust
z-score is unchanged by such a function (see the properties above), so the mapping gives a
SigLIP model's pair logits and its cosines the same confidences: ``t`` and ``b`` drop out, and
the indexer feeds cosines for every model. The sigmoid itself is not used as the confidence:
its level was fitted to single web captions, so averaged prompt ensembles and vocabulary
labels land far below 0.5 even when right (zero-shot SigLIP probabilities of a correct
label are often a few percent), and it would not mean what a CLIP model's confidence means.
Like any model, a SigLIP model gets its own (center, scale) entry in ``tag_calibration``.

Limits: confidences are relative to the vocabulary, which should be large and varied
(hundreds of labels, like the shipped ones); with a few dozen labels the median and MAD are
noisy. The defaults are priors: `smarttags calibrate` fits center and scale per model on a
labelled sample (indexer/calibration_fit.py) and writes them where the settings read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.settings import Settings

_MAD_TO_SIGMA = 1.4826  # MAD of a Gaussian times this is its standard deviation
DEFAULT_KEY = "default"


@dataclass(frozen=True)
class Calibration:
    center: float
    scale: float

    def confidences(self, similarities: np.ndarray) -> np.ndarray:
        """Similarities (..., L) against a vocabulary of L labels -> confidences in [0, 1]."""
        z = robust_z_scores(similarities)
        logistic = 0.5 * (1.0 + np.tanh((z - self.center) / (2.0 * self.scale)))
        return np.clip(logistic, 0.0, 1.0).astype(np.float32)


def robust_z_scores(similarities: np.ndarray) -> np.ndarray:
    """How far each label stands above the vocabulary's median, in robust standard deviations."""
    values = np.asarray(similarities, dtype=np.float64)
    median = np.median(values, axis=-1, keepdims=True)
    mad = np.median(np.abs(values - median), axis=-1, keepdims=True)
    spread = np.maximum(mad * _MAD_TO_SIGMA, np.finfo(np.float64).tiny)
    return (values - median) / spread


def calibration_for(settings: Settings) -> Calibration:
    """The calibration of the configured model: most specific key of tag_calibration wins."""
    table = settings.tag_calibration
    keys = (f"{settings.model}/{settings.pretrained}", settings.model, DEFAULT_KEY)
    for key in keys:
        if key in table:
            center, scale = table[key]
            if scale <= 0:
                raise ValueError(f"tag_calibration[{key!r}]: scale must be positive")
            return Calibration(center=float(center), scale=float(scale))
    raise ValueError(f"tag_calibration has no entry for any of {keys}")
