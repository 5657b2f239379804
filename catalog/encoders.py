"""What the query layer needs to search by meaning: something that turns a query (a text, a
picture) into an embedding of the configured model.

The query layer imports catalog only, so it sees this Protocol; the implementation lives in
the indexer (indexer/query_encoder.py: ONNX Runtime, no torch) and the composition root
(smarttags/) hands one to the API and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


class EncoderUnavailable(RuntimeError):
    """The query encoder cannot run here (the message says why and how to fix it)."""


class UnreadableImage(ValueError):
    """The example picture cannot be decoded (the message says why)."""


@dataclass(frozen=True)
class EncoderInfo:
    model_id: str  # the model whose towers encode the queries
    center: float  # the model's tag calibration (indexer/calibration.py): the logistic over
    scale: float  # robust z-scores that turns a similarity into a confidence


class QueryEncoder(Protocol):
    def load(self) -> None:
        """Load and warm up now (a server, before it takes requests); a failure is not
        raised but kept for `info`."""
        ...

    def info(self) -> EncoderInfo:
        """The loaded model; raises EncoderUnavailable when there is none."""
        ...

    def encode_text(self, text: str) -> np.ndarray:
        """A unit D float32 vector; raises EncoderUnavailable."""
        ...

    def encode_image(self, path: Path) -> np.ndarray:
        """The picture in `path` as a unit D float32 vector, prepared as the indexer prepares
        an image; raises EncoderUnavailable, or UnreadableImage."""
        ...
