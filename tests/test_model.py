"""The model layer, on tiny open_clip models loaded exactly as a user's local checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from indexer.model import ClipModel, ModelUnavailable, clear_model_cache, load_model
from tests.tiny_model import TINY_CONFIG, TINY_EMBED_DIM, TINY_IMAGE_SIZE, tiny_settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return tiny_settings(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def model(settings) -> ClipModel:
    return load_model(settings)


def _frames(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (count, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def test_encode_images_gives_unit_vectors(model):
    embeddings = model.encode_images(_frames(7))  # more than one batch of 4
    assert embeddings.shape == (7, TINY_EMBED_DIM)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert model.image_size == TINY_IMAGE_SIZE


def test_batching_does_not_change_results(model):
    frames = _frames(6, seed=1)
    together = model.encode_images(frames)
    one_by_one = np.concatenate([model.encode_images(frames[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_empty_batch_and_wrong_input(model):
    assert model.encode_images(_frames(0)).shape == (0, TINY_EMBED_DIM)
    with pytest.raises(ValueError, match="uint8"):
        model.encode_images(_frames(1).astype(np.float32))
    with pytest.raises(ValueError, match="64"):
        model.encode_images(np.zeros((1, 32, 32, 3), dtype=np.uint8))


def test_pixels_are_normalized_like_open_clip_preprocessing(model, settings):
    reference = open_clip.CLIP(**TINY_CONFIG).eval()
    reference.load_state_dict(torch.load(settings.pretrained, weights_only=True))
    preprocess = open_clip.image_transform(TINY_IMAGE_SIZE, is_train=False)
    frames = _frames(2, seed=2)
    pixels = torch.stack([preprocess(Image.fromarray(frame)) for frame in frames])
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(reference.encode_image(pixels), dim=-1)
    np.testing.assert_allclose(model.encode_images(frames), expected.numpy(), atol=1e-4)


def test_encode_texts_gives_unit_vectors(model):
    embeddings = model.encode_texts(["a photo of a dog.", "a person running.", "x"])
    assert embeddings.shape == (3, TINY_EMBED_DIM)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert model.encode_texts([]).shape == (0, TINY_EMBED_DIM)
    assert model.logit_scale > 0


def test_model_loads_once_per_process(model, settings):
    assert load_model(settings) is model
    assert load_model(settings.model_copy()) is model


def test_model_id_is_stable_and_follows_the_weights(model, settings, tmp_path):
    clear_model_cache()
    assert load_model(settings).model_id == model.model_id
    assert "/ckpt-" in model.model_id
    other = load_model(tiny_settings(tmp_path, seed=1))
    assert other.model_id != model.model_id
    assert other.model_id.split("/")[0] == model.model_id.split("/")[0]  # same architecture
    frames = _frames(1)
    assert not np.allclose(other.encode_images(frames), model.encode_images(frames))


def test_model_id_follows_the_config(model, settings, tmp_path):
    config = json.loads(Path(settings.model).read_text())
    config["vision_cfg"]["layers"] = 1  # another architecture, same file name
    path = tmp_path / "tiny-clip.json"
    path.write_text(json.dumps(config))
    torch.manual_seed(0)
    checkpoint = tmp_path / "one-layer.pt"
    torch.save(open_clip.CLIP(**config).state_dict(), checkpoint)
    changed = load_model(
        settings.model_copy(update={"model": str(path), "pretrained": str(checkpoint)})
    )
    assert changed.model_id.split("/")[0] != model.model_id.split("/")[0]


def test_bf16_embeddings_stay_close_to_fp32(model, settings):
    for precision in ("bf16",):
        low = load_model(settings, precision)
        assert low.model_id == model.model_id and low is not model
        frames = _frames(3, seed=3)
        cosine = (low.encode_images(frames) * model.encode_images(frames)).sum(axis=1)
        assert cosine.min() > 0.99


def test_unknown_tag_names_the_settings(settings):
    with pytest.raises(ModelUnavailable) as caught:
        load_model(settings.model_copy(update={"pretrained": "laion2b_s34b_b79k"}))
    message = str(caught.value)
    assert "SMARTTAGS_PRETRAINED" in message and "SMARTTAGS_MODEL" in message
    assert "laion2b_s34b_b79k" in message


def test_tag_that_cannot_be_fetched_says_so(settings, tmp_path, monkeypatch):
    # The true edge: no network. Offline mode makes the hub client fail at once, as it
    # would after its retries on a machine without internet access.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = settings.model_copy(
        update={
            "model": "ViT-B-32",
            "pretrained": "laion2b_s34b_b79k",
            "weights_cache_dir": tmp_path / "empty-cache",
        }
    )
    with pytest.raises(ModelUnavailable) as caught:
        load_model(offline)
    message = str(caught.value)
    assert "not in the local cache" in message and "cannot be reached" in message
    assert "SMARTTAGS_PRETRAINED" in message and "SMARTTAGS_MODEL" in message
    assert "smarttags demo-model" in message and "RANDOM" in message


def test_an_unreachable_hub_is_found_once_quickly_and_the_client_goes_offline(monkeypatch):
    import time

    from catalog.settings import Settings
    from indexer import hub
    from tests.processes import free_port

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    closed = Settings(hub_host="127.0.0.1", hub_port=free_port(), hub_probe_timeout_s=1)
    began = time.monotonic()
    assert hub.hub_reachable(closed) is False
    assert time.monotonic() - began < 2
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"pretrained": "/no/such/checkpoint.pt"}, "does not exist"),
        ({"model": "No-Such-Model"}, "unknown model"),
        ({"model": "/no/such/config.json"}, "cannot read model config"),
        ({"model": "hf-hub:org/repo"}, "not supported"),
    ],
)
def test_bad_model_settings_are_reported_plainly(settings, update, expected):
    with pytest.raises(ModelUnavailable, match=expected):
        load_model(settings.model_copy(update=update))


def test_config_json_must_be_an_open_clip_config(settings, tmp_path):
    path = tmp_path / "not-a-model.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ModelUnavailable, match="embed_dim"):
        load_model(settings.model_copy(update={"model": str(path)}))


def test_text_embeddings_match_open_clip(model, settings):
    reference = open_clip.CLIP(**TINY_CONFIG).eval()
    reference.load_state_dict(torch.load(settings.pretrained, weights_only=True))
    texts = ["a dog.", "a photo of a person playing the electric guitar on a stage.", "x"]
    tokens = open_clip.get_tokenizer("ViT-B-32")(texts)  # same tokenizer, 77 tokens
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(reference.encode_text(tokens), dim=-1)
    np.testing.assert_allclose(model.encode_texts(texts), expected.numpy(), atol=1e-5)


def test_a_cached_tag_brings_its_preprocessing_and_activation(model, settings, monkeypatch):
    # A tag whose file is already in the weights cache; open_clip's registry entry for it
    # names the file directly, as its entries for local files do.
    architecture = model.model_id.split("/")[0]
    half = (0.5, 0.5, 0.5)
    entry = {"file": settings.pretrained, "mean": half, "std": half, "quick_gelu": True}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, architecture, {"cached_tag": entry})
    tagged = load_model(settings.model_copy(update={"pretrained": "cached_tag"}))
    assert tagged.model_id == f"{architecture}/cached_tag"

    reference = open_clip.CLIP(**TINY_CONFIG, quick_gelu=True).eval()
    reference.load_state_dict(torch.load(settings.pretrained, weights_only=True))
    preprocess = open_clip.image_transform(TINY_IMAGE_SIZE, is_train=False, mean=half, std=half)
    frames = _frames(2, seed=4)
    pixels = torch.stack([preprocess(Image.fromarray(frame)) for frame in frames])
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(reference.encode_image(pixels), dim=-1)
    np.testing.assert_allclose(tagged.encode_images(frames), expected.numpy(), atol=1e-4)
