"""The text tower without torch or open_clip: for processes that only encode texts (the API
turning a search query into an embedding), and for the indexer's vocabularies.

It needs the model exported once (any `smarttags index` or `smarttags doctor` run with the
same model settings does it) and reads the text-tower choice made then; without a choice it
runs fp32, the precision every check is made against.
"""

from __future__ import annotations

import numpy as np

from catalog.settings import Settings
from indexer.export_cache import ExportedModel, find_export


class TextEncoderUnavailable(RuntimeError):
    """No export of the configured model is cached; the message says how to make one."""


class LightTextEncoder:
    """Texts -> unit float32 rows of the model's embedding space."""

    def __init__(self, exported: ExportedModel, precision: str, settings: Settings) -> None:
        from indexer.clip_tokenizer import ClipTokenizer
        from indexer.onnx_runtime import OnnxTextEncoder

        path = exported.path("text", precision) or exported.path("text", "fp32")
        if path is None or not exported.light_tokenizer:
            raise TextEncoderUnavailable(
                f"the export of {exported.model_id} has no text tower that runs without torch "
                f"(its tokenizer is not CLIP's BPE)"
            )
        tokenizer = ClipTokenizer.load(exported.directory)
        self.model_id = exported.model_id
        self.embed_dim = exported.embed_dim
        self.precision = precision
        self._session = OnnxTextEncoder(
            path,
            tokenizer,
            tokenizer.framing.end_id,
            exported.embed_dim,
            settings.text_batch_size,
            exported.trim_text,
            threads=settings.inference_threads,
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._session.encode_texts(list(texts))

    encode_texts = encode  # the vocabulary's TextEncoder protocol


def onnx_text_encoder(
    exported: ExportedModel | None, precision: str, settings: Settings
) -> LightTextEncoder:
    if exported is None:
        raise TextEncoderUnavailable("the model has not been exported to ONNX")
    return LightTextEncoder(exported, precision, settings)


def load_text_encoder(settings: Settings) -> LightTextEncoder:
    """The configured model's text tower on ONNX Runtime, at the precision chosen for it."""
    exported = find_export(settings)
    if exported is None:
        raise TextEncoderUnavailable(
            f"no ONNX export of model {settings.model} ({settings.pretrained}) under "
            f"{settings.data_dir}: run `smarttags doctor` or `smarttags index` once with the "
            f"same SMARTTAGS_MODEL, SMARTTAGS_PRETRAINED and data dir"
        )
    return LightTextEncoder(exported, _chosen_precision(exported, settings), settings)


def _chosen_precision(exported: ExportedModel, settings: Settings) -> str:
    from indexer import hardware
    from indexer.runtime_choice import ONNX, read_choice

    if settings.inference_precision in ("fp32", "int8"):
        return settings.inference_precision
    choice = read_choice(exported.directory, hardware.detect(), settings)
    if choice is not None and choice.text.path.runtime == ONNX:
        return choice.text.path.precision
    return "fp32"
