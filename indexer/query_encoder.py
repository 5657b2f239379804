"""Queries into embeddings without torch, open_clip or ffmpeg: what the API process (and the
CLI's searches) use for semantic search (catalog/encoders.QueryEncoder).

- Text: the exported text tower on ONNX Runtime with the torch-free tokenizer
  (indexer/text_encoder.py), loaded once and warmed by one encoding, so the first query does
  not pay for the session's first run. Recent query texts are kept encoded (an LRU of
  `query_embedding_cache` entries): a repeated query, or the next page of one, costs nothing.
- Pictures: the exported image tower (uint8 frames in, unit rows out) after the indexer's own
  preparation of an image (indexer/limits.decode_upright, indexer/pictures.square_rgb), so a
  file sent as a query gives the pixels its indexing gave. Loaded on the first picture.
- Both need the export the indexer makes on its first run (under the data dir). Until it is
  there, `info` raises EncoderUnavailable saying so, and the export is looked for again every
  `encoder_retry_s`, so a server started before the first indexing run needs no restart.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from catalog.encoders import EncoderInfo, EncoderUnavailable, UnreadableImage
from catalog.settings import Settings
from indexer.calibration import calibration_for
from indexer.export_cache import ExportedModel, find_export
from indexer.limits import decode_upright, pixels_over_limit
from indexer.pictures import decode_size, square_rgb
from indexer.text_encoder import LightTextEncoder, TextEncoderUnavailable, load_text_encoder

WARM_UP_TEXT = "a photo"
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class LightQueryEncoder:
    """The configured model's towers on ONNX Runtime, for queries (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._text: LightTextEncoder | None = None
        self._info: EncoderInfo | None = None
        self._image = None
        self._image_size = 0
        self._failed: tuple[float, str] | None = None  # when the last load failed, and why
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def load(self) -> None:
        """Load and warm the text tower now (a server calls this before it takes requests);
        a failure is kept for `info` to report."""
        with contextlib.suppress(EncoderUnavailable):
            self.info()

    def info(self) -> EncoderInfo:
        with self._lock:
            if self._info is not None:
                return self._info
            if self._failed is not None:
                failed_at, reason = self._failed
                if time.monotonic() - failed_at < self.settings.encoder_retry_s:
                    raise EncoderUnavailable(reason)
            try:
                text = load_text_encoder(self.settings)
                text.encode([WARM_UP_TEXT])
            except TextEncoderUnavailable as exc:
                self._failed = (time.monotonic(), str(exc))
                raise EncoderUnavailable(str(exc)) from None
            calibration = calibration_for(self.settings)
            self._text = text
            self._info = EncoderInfo(text.model_id, calibration.center, calibration.scale)
            self._failed = None
            return self._info

    def encode_text(self, text: str) -> np.ndarray:
        self.info()
        with self._lock:
            found = self._recent.get(text)
            if found is not None:
                self._recent.move_to_end(text)
                return found
        assert self._text is not None
        vector = self._text.encode([text])[0]
        vector.setflags(write=False)  # shared by every search that repeats the text
        with self._lock:
            self._recent[text] = vector
            while len(self._recent) > self.settings.query_embedding_cache:
                self._recent.popitem(last=False)
        return vector

    def encode_image(self, path: Path) -> np.ndarray:
        self.info()
        encoder, size = self._image_encoder()
        return encoder.encode_images(self.prepare(path, size)[None])[0]

    def prepare(self, path: Path, size: int) -> np.ndarray:
        """The picture as the indexer prepares an image: size x size x 3 uint8."""
        try:
            with Image.open(path) as header:
                too_many = pixels_over_limit(*header.size, self.settings)
            if too_many:
                raise UnreadableImage(f"the picture is too large: {too_many}")
            picture = decode_upright(path, shorter=decode_size(size, self.settings.thumbnail_px))
        except _DECODE_ERRORS as exc:
            raise UnreadableImage(f"the picture does not decode: {exc}") from None
        return square_rgb(picture, size)

    def _image_encoder(self):
        with self._lock:
            if self._image is None:
                exported = find_export(self.settings)
                if exported is None or exported.model_id != self._info.model_id:
                    raise EncoderUnavailable(
                        "the image tower of the configured model is not exported: run "
                        "`smarttags index` or `smarttags doctor` once"
                    )
                self._image = _image_session(exported, self.settings)
                self._image_size = exported.image_size
            return self._image, self._image_size


def _image_session(exported: ExportedModel, settings: Settings):
    from indexer.onnx_runtime import OnnxImageEncoder

    precision = _image_precision(exported, settings)
    path = exported.path("visual", precision) or exported.path("visual", "fp32")
    if path is None:
        raise EncoderUnavailable(f"the export of {exported.model_id} has no image tower")
    return OnnxImageEncoder(
        path,
        exported.image_size,
        exported.embed_dim,
        batch_size=1,
        threads=settings.inference_threads,
    )


def _image_precision(exported: ExportedModel, settings: Settings) -> str:
    """The precision the indexer's image tower runs at here (the query's embedding then
    matches the indexed one best), else fp32."""
    from indexer import hardware
    from indexer.runtime_choice import ONNX, read_choice

    if settings.inference_precision in ("fp32", "int8"):
        return settings.inference_precision
    choice = read_choice(exported.directory, hardware.detect(), settings)
    if choice is not None and choice.image.path.runtime == ONNX:
        return choice.image.path.precision
    return "fp32"
