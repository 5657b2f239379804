"""Inference runtimes: hardware detection, the ONNX export, fidelity of every path against
torch fp32, the measured choice, and the torch-free text encoder. Tiny models throughout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import ImageOps

from catalog.asset import MediaType
from indexer.calibration import calibration_for
from indexer.encoder import clear_encoder_cache, describe_runtime, load_encoder
from indexer.hardware import Hardware, _parse_cpuinfo
from indexer.model import load_model
from indexer.runtime_choice import (
    ONNX,
    TORCH,
    Measured,
    RuntimePath,
    check_images,
    image_candidates,
    pick,
)
from indexer.tagger import tag_frames
from indexer.vocabulary import load_label_embeddings
from tests.media import photo
from tests.tiny_model import TINY_IMAGE_SIZE, tiny_settings

onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

AVX2_ONLY = Hardware("test CPU", 2, frozenset({"avx2", "fma"}), ("CPUExecutionProvider",), "1")
BF16_CPU = Hardware(
    "test CPU", 2, frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}), (), "1"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model exported once for the module; settings on ONNX Runtime, chosen by auto."""
    settings = tiny_settings(
        tmp_path_factory.mktemp("runtime"), inference_runtime="auto", inference_precision="auto"
    )
    clear_encoder_cache()
    encoder = load_encoder(settings)
    return settings, encoder


def _fixture_frames(size: int) -> np.ndarray:
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera")
    pictures = [ImageOps.fit(photo(n).convert("RGB"), (size, size)) for n in names]
    return np.stack([np.asarray(p, dtype=np.uint8) for p in pictures])


def _path_encoder(settings, runtime: str, precision: str):
    clear_encoder_cache()
    forced = settings.model_copy(
        update={"inference_runtime": runtime, "inference_precision": precision}
    )
    return load_encoder(forced)


# hardware
def test_cpuinfo_flags_say_what_is_native():
    text = "processor : 0\nmodel name : Some CPU\nflags : fpu avx2 avx512_bf16 avx_vnni\n"
    name, flags = _parse_cpuinfo(text)
    machine = Hardware(name, 2, flags, (), None)
    assert name == "Some CPU" and machine.native_bf16 and machine.int8_dot_product
    assert not AVX2_ONLY.native_bf16 and not AVX2_ONLY.int8_dot_product
    assert AVX2_ONLY.fingerprint() != BF16_CPU.fingerprint()
    assert "no native bf16" in AVX2_ONLY.summary()


def test_bf16_is_a_candidate_only_with_native_bf16(exported):
    settings, _ = exported
    auto = settings.model_copy(update={"inference_runtime": "auto"})
    plain = image_candidates(auto, AVX2_ONLY, onnx_ready=True, torch_cuda=False)
    assert RuntimePath(TORCH, "bf16") not in plain
    assert {RuntimePath(ONNX, "int8"), RuntimePath(ONNX, "fp32"), RuntimePath(TORCH, "fp32")} <= (
        set(plain)
    )
    assert RuntimePath(TORCH, "bf16") in image_candidates(auto, BF16_CPU, True, False)
    forced = auto.model_copy(update={"inference_precision": "int8"})
    assert image_candidates(forced, AVX2_ONLY, True, False) == [RuntimePath(ONNX, "int8")]


def test_pick_refuses_low_fidelity_and_prefers_onnx_on_near_ties(exported):
    settings, _ = exported
    fast_but_wrong = Measured(RuntimePath(ONNX, "int8"), 100.0, 0.95)
    torch_fast = Measured(RuntimePath(TORCH, "bf16"), 50.0, 0.999)
    onnx_near = Measured(RuntimePath(ONNX, "fp32"), 45.0, 1.0)
    choice = pick([fast_but_wrong, torch_fast, onnx_near], settings, "images")
    assert choice.path == RuntimePath(ONNX, "fp32")
    assert "below cosine 0.99" in choice.reason and "ONNX Runtime int8" in choice.reason
    far = Measured(RuntimePath(ONNX, "fp32"), 20.0, 1.0)
    assert pick([torch_fast, far], settings, "images").path == RuntimePath(TORCH, "bf16")


# the export and fidelity of each path
def test_export_writes_both_towers_at_both_precisions(exported):
    settings, encoder = exported
    folder = next((settings.data_dir / "cache" / "onnx").glob("tiny-clip-*"))
    names = {p.name for p in folder.iterdir()}
    expected = {"visual-fp32.onnx", "visual-int8.onnx", "text-fp32.onnx", "text-int8.onnx"}
    assert expected | {"model.json", "tokenizer.json", "text.json"} <= names
    assert any(name.startswith("choice-") for name in names)
    assert not [name for name in names if name.endswith(".tmp")]
    assert json.loads((folder / "model.json").read_text())["model_id"] == encoder.model_id


@pytest.mark.parametrize(
    ("runtime", "precision"), [("onnx", "fp32"), ("onnx", "int8"), ("torch", "bf16")]
)
def test_every_path_keeps_embeddings_and_top5_tags_of_fp32(exported, runtime, precision):
    settings, _ = exported
    reference = load_model(settings)
    encoder = _path_encoder(settings, runtime, precision)
    assert (encoder.choice.image.path.runtime, encoder.choice.image.path.precision) == (
        runtime,
        precision,
    )
    frames = np.concatenate([_fixture_frames(TINY_IMAGE_SIZE), check_images(TINY_IMAGE_SIZE, 4)])
    truth, got = reference.encode_images(frames), encoder.encode_images(frames)
    assert (truth * got).sum(axis=1).min() >= 0.99
    prompts = ["a photo of a dog.", "a person riding a bike!", "Crème brûlée 🍮", "x" * 200]
    text_cos = (reference.encode_texts(prompts) * encoder.encode_texts(prompts)).sum(axis=1)
    assert text_cos.min() >= 0.99
    vocabularies = load_label_embeddings(reference, settings)
    ranked = settings.model_copy(
        update={"min_object_confidence": 0.0, "min_action_confidence": 0.0, "max_tags_per_asset": 5}
    )
    for truth_row, got_row in zip(truth, got, strict=True):
        expected = tag_frames(truth_row[None], [0.0], None, MediaType.image, vocabularies, ranked)
        actual = tag_frames(got_row[None], [0.0], None, MediaType.image, vocabularies, ranked)
        if precision == "fp32":
            assert [t.tag for t in actual] == [t.tag for t in expected]
        else:
            _same_top5_up_to_numeric_ties(truth_row, got_row, vocabularies, settings)


def _same_top5_up_to_numeric_ties(truth_row, got_row, vocabularies, settings):
    """A lower precision keeps the top 5, except that two labels whose fp32 confidences lie
    closer than that precision's own error on this frame may trade places. A tiny random
    model scores most labels within a hair of each other, so such near-ties are common
    there; a label from further down, or a reordering beyond the error, still fails."""
    calibration = calibration_for(settings)
    truth_conf = np.concatenate(
        [calibration.confidences(truth_row @ v.vectors.T) for v in vocabularies]
    )
    got_conf = np.concatenate(
        [calibration.confidences(got_row @ v.vectors.T) for v in vocabularies]
    )
    error = float(np.abs(truth_conf - got_conf).max())
    top_truth, top_got = np.argsort(-truth_conf)[:5], np.argsort(-got_conf)[:5]
    fifth = truth_conf[top_truth[-1]]
    for label in set(top_got) - set(top_truth):
        assert fifth - truth_conf[label] <= 2 * error, "a label came up from further down"
    assert error < 0.05


def test_auto_choice_is_measured_remembered_and_described(exported):
    settings, encoder = exported
    choice = encoder.choice
    assert choice.image.measured and choice.text.measured
    assert all(m.error is None for m in choice.image.measured)
    assert choice.image.path in {m.path for m in choice.image.measured}
    text = describe_runtime(settings)
    assert "hardware:" in text and "image tower:" in text and "text tower:" in text
    assert "cosine to fp32" in text


def test_forced_path_is_not_measured(exported):
    settings, _ = exported
    encoder = _path_encoder(settings, "onnx", "fp32")
    assert encoder.choice.image.path == RuntimePath(ONNX, "fp32")
    assert "forced by the settings" in encoder.choice.image.reason
    assert not encoder.choice.image.measured


# a process with the export cached starts without torch
_NO_TORCH_SCRIPT = """
import sys, json
from catalog.settings import Settings
from {module} import {function}
settings = Settings(**json.loads(sys.argv[1]))
{body}
heavy = sorted(m for m in ("torch", "open_clip", "timm") if m in sys.modules)
print(json.dumps({{"heavy": heavy, "result": result}}))
"""


def _run_without_torch(settings, module: str, function: str, body: str) -> dict:
    script = _NO_TORCH_SCRIPT.format(module=module, function=function, body=textwrap.dedent(body))
    values = settings.model_dump(
        mode="json",
        include={
            "model",
            "pretrained",
            "data_dir",
            "inference_runtime",
            "inference_precision",
            "inference_threads",
        },
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(values)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_light_text_encoder_runs_without_torch_and_matches(exported):
    settings, encoder = exported
    texts = ["a photo of a dog.", "Ñandú, straße & café!"]
    out = _run_without_torch(
        settings,
        "indexer.text_encoder",
        "load_text_encoder",
        """
        encoder = load_text_encoder(settings)
        rows = encoder.encode(TEXTS)
        result = rows.tolist()
        """.replace("TEXTS", repr(texts)),
    )
    assert out["heavy"] == []
    rows = np.array(out["result"], dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert (rows * encoder.encode_texts(texts)).sum(axis=1).min() > 0.999


def test_cached_export_and_choice_start_the_encoder_without_torch(exported):
    settings, encoder = exported
    out = _run_without_torch(
        settings,
        "indexer.encoder",
        "load_encoder",
        """
        import numpy as np
        encoder = load_encoder(settings)
        rows = encoder.encode_images(np.zeros((2, SIZE, SIZE, 3), dtype=np.uint8))
        result = [encoder.model_id, rows.shape[0]]
        """.replace("SIZE", str(TINY_IMAGE_SIZE)),
    )
    if encoder.choice.image.path.runtime == TORCH:
        pytest.skip("torch was measured fastest for the tiny model on this machine")
    assert out["heavy"] == [] and out["result"] == [encoder.model_id, 2]


def test_text_encoder_without_export_says_what_to_run(tmp_path):
    from indexer.text_encoder import TextEncoderUnavailable, load_text_encoder

    settings = tiny_settings(tmp_path)
    with pytest.raises(TextEncoderUnavailable, match="smarttags doctor"):
        load_text_encoder(settings)
