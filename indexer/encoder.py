"""The encoders the indexer uses: each tower on the runtime chosen for this machine.

`load_encoder` is the one entry point. When the model was exported and the choice was
measured before on this machine (both cached under the data dir), it opens ONNX Runtime
sessions and never imports torch or open_clip: a process starts in about a second. Otherwise
it loads the checkpoint with torch, exports it (indexer/onnx_export.py), measures the
candidate paths (indexer/runtime_choice.py) and remembers the result.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from catalog.settings import Settings
from indexer import hardware
from indexer.export_cache import ExportedModel, find_export, model_dir
from indexer.runtime_choice import (
    CUDA,
    ONNX,
    TORCH,
    Choice,
    Measured,
    RuntimePath,
    TowerChoice,
    check_images,
    check_prompts,
    forced,
    image_candidates,
    measure,
    pick,
    read_choice,
    text_candidates,
    write_choice,
)

Step = Callable[[str], None]  # says what the one-time preparation is doing now


class ImageEncoder(Protocol):
    def encode_images(self, batch: np.ndarray) -> np.ndarray: ...


class TextEncoder(Protocol):
    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Encoder:
    """Both towers of one model, each on its chosen path. The text tower is opened on first
    use: with the vocabularies cached, an indexing run never needs it."""

    model_id: str
    image_size: int
    embed_dim: int
    logit_scale: float
    logit_bias: float | None
    image: ImageEncoder
    open_text: Callable[[], TextEncoder]
    choice: Choice
    _text: TextEncoder | None = None

    @property
    def text(self) -> TextEncoder:
        if self._text is None:
            self._text = self.open_text()
        return self._text

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        return self.image.encode_images(batch)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.text.encode_texts(texts)


_ENCODERS: dict[tuple[Any, ...], Encoder] = {}
_LOCK = threading.Lock()


def load_encoder(settings: Settings, step: Step | None = None) -> Encoder:
    """The encoder the settings name, built once per process."""
    key = _key(settings)
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = _build(settings, step or (lambda message: None))
        return _ENCODERS[key]


def describe_runtime(settings: Settings) -> str:
    """The loaded model, and which runtime each tower runs on here and why (for `doctor`).
    The first call on a machine exports the model and measures the runtimes."""
    encoder = load_encoder(settings)
    head = f"loaded: {encoder.model_id}, input {encoder.image_size}px"
    return "\n     ".join([head, *encoder.choice.describe().splitlines()])


def clear_encoder_cache() -> None:
    with _LOCK:
        _ENCODERS.clear()


def _key(settings: Settings) -> tuple[Any, ...]:
    from indexer.export_cache import settings_key

    knobs = (
        "inference_runtime",
        "inference_precision",
        "inference_device",
        "inference_min_cosine",
        "inference_tie_share",
        "inference_threads",
        "encode_batch_size",
        "text_batch_size",
    )
    return (settings_key(settings), str(settings.data_dir), *(getattr(settings, k) for k in knobs))


def _build(settings: Settings, step: Step) -> Encoder:
    machine = hardware.detect()
    if settings.inference_runtime != TORCH:
        exported = find_export(settings)
        choice = read_choice(exported.directory, machine, settings) if exported else None
        if exported is not None and choice is None:
            choice = _forced_onnx_choice(settings, machine, exported)
        if exported is not None and choice is not None:
            step("loading the model")
            return _assemble(settings, exported, choice, None)
    return _prepare(settings, machine, step)


def _forced_onnx_choice(
    settings: Settings, machine: hardware.Hardware, exported: ExportedModel
) -> Choice | None:
    """Settings that leave one ONNX path per tower need no measuring, hence no torch."""
    if settings.inference_device == CUDA:
        return None
    images = image_candidates(settings, machine, onnx_ready=True, torch_cuda=False)
    texts = text_candidates(settings, exported.light_tokenizer)
    if len(images) != 1 or len(texts) != 1 or images[0].runtime != ONNX:
        return None
    image, text = forced(images[0], settings), _single(texts[0], settings, "prompts")
    return Choice(image, text, machine.summary())


def _prepare(settings: Settings, machine: hardware.Hardware, step: Step) -> Encoder:
    """First use on this machine: load with torch, export, measure, remember."""
    from indexer.model import load_model

    step("loading the model with torch")
    reference = load_model(settings, "fp32")
    exported, notes = _export(reference, settings, step, machine)
    torch_cuda = _torch_cuda(settings)
    onnx_ready = exported is not None
    image_paths = image_candidates(settings, machine, onnx_ready, torch_cuda)
    text_paths = text_candidates(settings, bool(exported and exported.light_tokenizer))
    image = _choose_image(image_paths, reference, exported, settings, step)
    text = _choose_text(text_paths, reference, exported, settings, step)
    choice = Choice(image, text, machine.summary(), tuple(notes))
    write_choice(model_dir(settings, reference.model_id), machine, settings, choice)
    if TORCH not in (image.path.runtime, text.path.runtime):
        from indexer.model import clear_model_cache

        clear_model_cache()  # neither tower runs on torch: let its weights go
        reference = None
    encoder = _assemble(settings, exported, choice, reference)
    gc.collect()  # the measured sessions and models that lost
    return encoder


def _export(
    reference: Any, settings: Settings, step: Step, machine: hardware.Hardware
) -> tuple[ExportedModel | None, list[str]]:
    if settings.inference_runtime == TORCH:
        return None, []
    if machine.onnxruntime_version is None:
        return None, ["onnxruntime is not installed: pip install 'smarttags[indexer]'"]
    from indexer.onnx_export import ExportFailed, export_model

    try:
        return export_model(reference, settings, step), []
    except ExportFailed as error:
        return None, [f"the ONNX export failed, torch runs instead: {error}"]


def _torch_cuda(settings: Settings) -> bool:
    if settings.inference_device == "cpu":
        return False
    return hardware.torch_cuda_available()


def _choose_image(
    paths: list[RuntimePath],
    reference: Any,
    exported: ExportedModel | None,
    settings: Settings,
    step: Step,
) -> TowerChoice:
    if len(paths) == 1:
        return _single(paths[0], settings, "images")
    images = check_images(reference.image_size, settings.runtime_check_images)
    truth = reference.encode_images(images).astype(np.float64)
    measured = []
    for path in paths:
        step(f"measuring the image tower on {path.label()}")
        measured.append(
            _measure(
                path,
                lambda p=path: _image_part(p, settings, exported, reference),
                images,
                truth,
                settings,
                "encode_images",
            )
        )
    return pick(measured, settings, "images")


def _choose_text(
    paths: list[RuntimePath],
    reference: Any,
    exported: ExportedModel | None,
    settings: Settings,
    step: Step,
) -> TowerChoice:
    if len(paths) == 1:
        return _single(paths[0], settings, "prompts")
    prompts = check_prompts(settings)
    truth = reference.encode_texts(prompts).astype(np.float64)
    measured = []
    for path in paths:
        step(f"measuring the text tower on {path.label()}")
        measured.append(
            _measure(
                path,
                lambda p=path: _text_part(p, settings, exported, reference),
                prompts,
                truth,
                settings,
                "encode_texts",
            )
        )
    return pick(measured, settings, "prompts")


def _measure(
    path: RuntimePath,
    make: Callable[[], Any],
    items: Any,
    truth: np.ndarray,
    settings: Settings,
    method: str,
) -> Measured:
    return measure(
        path, lambda: getattr(make(), method), items, truth, settings.runtime_check_repeats
    )


def _single(path: RuntimePath, settings: Settings, unit: str) -> TowerChoice:
    knobs = (settings.inference_runtime, settings.inference_precision, settings.inference_device)
    if any(knob != "auto" for knob in knobs):
        return forced(path, settings)
    return TowerChoice(path, "the only path available here")


# building the parts
def _assemble(
    settings: Settings, exported: ExportedModel | None, choice: Choice, reference: Any
) -> Encoder:
    image = _image_part(choice.image.path, settings, exported, reference)
    source = exported if exported is not None else reference
    return Encoder(
        model_id=source.model_id,
        image_size=source.image_size,
        embed_dim=source.embed_dim,
        logit_scale=source.logit_scale,
        logit_bias=source.logit_bias,
        image=image,
        open_text=lambda: _text_part(choice.text.path, settings, exported, reference),
        choice=choice,
    )


def _image_part(
    path: RuntimePath, settings: Settings, exported: ExportedModel | None, reference: Any
) -> ImageEncoder:
    if path.runtime == ONNX:
        from indexer.onnx_runtime import OnnxImageEncoder

        onnx = _onnx_file(exported, "visual", path)
        return OnnxImageEncoder(
            onnx,
            exported.image_size,
            exported.embed_dim,
            settings.encode_batch_size,
            threads=settings.inference_threads,
            device=path.device,
        )
    return _torch_model(settings, path, reference)


def _text_part(
    path: RuntimePath, settings: Settings, exported: ExportedModel | None, reference: Any
) -> TextEncoder:
    if path.runtime == ONNX:
        from indexer.text_encoder import onnx_text_encoder

        return onnx_text_encoder(exported, path.precision, settings)
    return _torch_model(settings, path, reference)


def _onnx_file(exported: ExportedModel | None, tower: str, path: RuntimePath):
    found = exported.path(tower, path.precision) if exported else None
    if found is None:
        raise RuntimeError(f"the export has no {tower} tower at {path.precision}")
    return found


def _torch_model(settings: Settings, path: RuntimePath, reference: Any) -> Any:
    from indexer.model import load_model

    same = reference is not None and (reference.precision, reference.device) == (
        path.precision,
        path.device,
    )
    return reference if same else load_model(settings, path.precision, path.device)
