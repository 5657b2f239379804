"""A multilingual model as a setting: its text tower reads a Hugging Face tokenizer, which the
export saves so that the API encodes queries in any language without torch or transformers."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.clip_tokenizer import ClipTokenizer
from indexer.encoder import load_encoder
from indexer.export_cache import find_export
from indexer.query_encoder import LightQueryEncoder
from tests.backends import make_settings
from tests.tiny_model import write_tiny_multilingual_model

pytest.importorskip("transformers", reason="open_clip reads Hugging Face tokenizers with it")

TEXTS = [
    "un chien sur la plage",
    "ein Hund am Strand",
    "犬がビーチにいる",
    "A Cat  in the   KITCHEN",
    "coucher de soleil " * 20,  # longer than the context: cut, the end token kept
    "",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multilingual")
    config, checkpoint = write_tiny_multilingual_model(tmp / "model")
    settings = make_settings(
        tmp,
        model=str(config),
        pretrained=str(checkpoint),
        inference_runtime="onnx",
        inference_precision="fp32",
        inference_threads=1,
    )
    encoder = load_encoder(settings)  # exports both towers and the tokenizer (torch, once)
    return settings, encoder


def test_the_exported_tokenizer_gives_open_clips_ids(exported):
    from indexer.model import load_model

    settings, _ = exported
    export = find_export(settings)
    assert export is not None and export.light_tokenizer
    light = ClipTokenizer.load(export.directory)
    reference = load_model(settings, "fp32").tokenizer(TEXTS).numpy()
    assert np.array_equal(light(TEXTS), reference)


def test_queries_in_any_language_encode_without_torch_as_the_model_does(exported):
    from indexer.model import load_model

    settings, encoder = exported
    assert encoder.choice.text.path.runtime == "onnx"  # the indexer's vocabularies too
    light = LightQueryEncoder(settings)
    reference = load_model(settings, "fp32").encode_texts(TEXTS)
    for text, expected in zip(TEXTS, reference, strict=True):
        assert float(light.encode_text(text) @ expected) > 0.999, text
    assert light.info().model_id == encoder.model_id
