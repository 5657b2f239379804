"""Which runtime and precision each tower runs at on this machine, measured once and remembered.

The candidates follow from the hardware (indexer/hardware.py) and the settings:

- torch fp32, always (the reference every other path is compared with);
- torch bf16, only where the CPU has native bf16 (AVX512_BF16 or AMX): elsewhere it is
  emulated and several times slower than fp32;
- ONNX Runtime fp32 and int8 (dynamic quantization), when onnxruntime is installed and the
  export worked;
- with a GPU (auto, or inference_device = cuda): ONNX Runtime on CUDA when its CUDA provider
  is installed, and torch on CUDA when torch sees the GPU; the CPU paths are then not tried.

Each candidate encodes a fixed check set (generated images, prompts from the shipped
vocabulary) and is timed. A path is allowed when every check embedding keeps a cosine of at
least inference_min_cosine to torch fp32's; of the allowed paths the fastest wins, and a path
within inference_tie_share of the fastest counts as fast as it, ONNX Runtime first: it starts
without importing torch and takes less memory. Settings can force a runtime, a precision or
a device; forced to one path, nothing is measured.

The result is written next to the export, per hardware fingerprint and runtime settings, so a
later process on the same machine reads it instead of measuring (and needs no torch).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from catalog.asset import TagKind
from catalog.settings import Settings
from indexer.export_cache import write_text_atomic
from indexer.hardware import Hardware

CHOICE_VERSION = 1
_CHECK_SEED = 20240611
_CHECK_PROMPTS = 64
_SHAPES_PER_IMAGE = 6
ONNX, TORCH = "onnx", "torch"
CPU, CUDA = "cpu", "cuda"


@dataclass(frozen=True)
class RuntimePath:
    runtime: str  # onnx | torch
    precision: str  # fp32 | int8 | bf16
    device: str = CPU  # cpu | cuda

    def label(self) -> str:
        where = " on CUDA" if self.device == CUDA else ""
        runtime = "ONNX Runtime" if self.runtime == ONNX else "torch"
        return f"{runtime} {self.precision}{where}"


@dataclass(frozen=True)
class Measured:
    path: RuntimePath
    per_s: float | None = None  # items per second on the check set
    min_cosine: float | None = None  # to torch fp32, over the check set
    error: str | None = None  # the path could not run

    def allowed(self, min_cosine: float) -> bool:
        return self.error is None and (self.min_cosine or 0.0) >= min_cosine

    def describe(self, unit: str) -> str:
        if self.error:
            return f"{self.path.label()}: unavailable ({self.error})"
        if self.per_s is None:
            return f"{self.path.label()}: not measured"
        return (
            f"{self.path.label()}: {self.per_s:.1f} {unit}/s, "
            f"cosine to fp32 >= {self.min_cosine:.4f}"
        )


@dataclass(frozen=True)
class TowerChoice:
    path: RuntimePath
    reason: str
    measured: tuple[Measured, ...] = ()


@dataclass(frozen=True)
class Choice:
    image: TowerChoice
    text: TowerChoice
    hardware: str  # Hardware.summary()
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. why ONNX is not there

    def describe(self) -> str:
        """What runs where and why, for `smarttags doctor`."""
        lines = [f"hardware: {self.hardware}"]
        for tower, choice, unit in (
            ("image", self.image, "images"),
            ("text", self.text, "prompts"),
        ):
            lines.append(f"{tower} tower: {choice.path.label()}, {choice.reason}")
            lines += [f"  {m.describe(unit)}" for m in choice.measured]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"version": CHOICE_VERSION, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Choice | None:
        try:
            data = json.loads(text)
            if data.get("version") != CHOICE_VERSION:
                return None
            return cls(
                image=_tower_from(data["image"]),
                text=_tower_from(data["text"]),
                hardware=str(data["hardware"]),
                notes=tuple(data.get("notes", ())),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _tower_from(data: dict[str, Any]) -> TowerChoice:
    measured = tuple(
        Measured(RuntimePath(**m["path"]), m["per_s"], m["min_cosine"], m["error"])
        for m in data["measured"]
    )
    return TowerChoice(RuntimePath(**data["path"]), str(data["reason"]), measured)


# where a choice is remembered
def choice_file(directory: Path, hardware: Hardware, settings: Settings) -> Path:
    knobs = [
        settings.inference_runtime,
        settings.inference_precision,
        settings.inference_device,
        settings.inference_min_cosine,
        settings.inference_tie_share,
        settings.inference_threads,
    ]
    key = hashlib.sha256(json.dumps(knobs).encode()).hexdigest()[:8]
    return directory / f"choice-{hardware.fingerprint()}-{key}.json"


def read_choice(directory: Path, hardware: Hardware, settings: Settings) -> Choice | None:
    try:
        text = choice_file(directory, hardware, settings).read_text(encoding="utf-8")
    except OSError:
        return None
    return Choice.from_json(text)


def write_choice(directory: Path, hardware: Hardware, settings: Settings, choice: Choice) -> None:
    write_text_atomic(choice_file(directory, hardware, settings), choice.to_json())


# the candidates
def image_candidates(
    settings: Settings, hardware: Hardware, onnx_ready: bool, torch_cuda: bool
) -> list[RuntimePath]:
    """The image-tower paths worth trying here, fastest-expected first."""
    gpu = _gpu_paths(hardware, onnx_ready, torch_cuda)
    if settings.inference_device == CUDA or (settings.inference_device == "auto" and gpu):
        paths = gpu or [RuntimePath(TORCH, "fp32", CUDA)]  # forced: fail loudly when loading
    else:
        paths = []
        if onnx_ready:
            paths += [RuntimePath(ONNX, "int8"), RuntimePath(ONNX, "fp32")]
        if hardware.native_bf16 or settings.inference_precision == "bf16":
            paths.append(RuntimePath(TORCH, "bf16"))
        paths.append(RuntimePath(TORCH, "fp32"))
    return _forced(paths, settings)


def text_candidates(settings: Settings, onnx_text_ready: bool) -> list[RuntimePath]:
    """Text-tower paths: ONNX Runtime where the light tokenizer exists (the API encodes
    queries with the same tower, without torch), else torch fp32. CPU only: a vocabulary is
    embedded once, and queries are one text at a time."""
    if onnx_text_ready and settings.inference_runtime != TORCH:
        paths = [RuntimePath(ONNX, "int8"), RuntimePath(ONNX, "fp32")]
        forced = [p for p in paths if p.precision == settings.inference_precision]
        return forced or paths
    return [RuntimePath(TORCH, "fp32")]


def _gpu_paths(hardware: Hardware, onnx_ready: bool, torch_cuda: bool) -> list[RuntimePath]:
    paths = []
    if onnx_ready and hardware.onnx_cuda:
        paths.append(RuntimePath(ONNX, "fp32", CUDA))
    if torch_cuda:
        paths.append(RuntimePath(TORCH, "fp32", CUDA))
    return paths


def _forced(paths: list[RuntimePath], settings: Settings) -> list[RuntimePath]:
    runtime, precision = settings.inference_runtime, settings.inference_precision
    kept = [
        p for p in paths if runtime in ("auto", p.runtime) and precision in ("auto", p.precision)
    ]
    if kept:
        return kept
    device = paths[0].device if paths else CPU
    if runtime == "auto":
        runtime = ONNX if precision == "int8" else TORCH
    return [RuntimePath(runtime, "fp32" if precision == "auto" else precision, device)]


# the check set
def check_images(size: int, count: int) -> np.ndarray:
    """Deterministic pictures: colour gradients with shapes and a little grain."""
    rng = np.random.default_rng(_CHECK_SEED)
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    for index in range(count):
        start, end = rng.uniform(0, 255, (2, 3))
        mix = (xx * rng.uniform(0.2, 1) + yy * rng.uniform(0.2, 1))[..., None] / 2
        picture = start * (1 - mix) + end * mix
        for _ in range(_SHAPES_PER_IMAGE):
            cy, cx, radius = rng.uniform(0, 1, 3) * (1, 1, 0.3)
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
            if rng.random() < 0.5:  # squares too
                inside = (abs(yy - cy) < radius) & (abs(xx - cx) < radius)
            picture[inside] = rng.uniform(0, 255, 3)
        picture += rng.normal(0, 6, picture.shape)
        images[index] = np.clip(picture, 0, 255).astype(np.uint8)
    return images


def check_prompts(settings: Settings) -> list[str]:
    """Prompts of evenly spread labels of the configured vocabularies, long and short."""
    from indexer.vocabulary import load_vocabulary

    prompts = [
        prompt
        for kind in (TagKind.object, TagKind.action)
        for prompts in load_vocabulary(kind, settings).prompts
        for prompt in prompts
    ]
    step = max(1, len(prompts) // _CHECK_PROMPTS)
    return prompts[::step][:_CHECK_PROMPTS]


# measuring
class _Encodes(Protocol):
    def __call__(self, items: Any) -> np.ndarray: ...


def measure(
    path: RuntimePath,
    make: Callable[[], _Encodes],
    items: Any,
    reference: np.ndarray,
    repeats: int,
) -> Measured:
    """Warm up once, then time `repeats` passes over the check set; fidelity to `reference`."""
    try:
        encode = make()
        first = encode(items)
        durations = []
        for _ in range(repeats):
            began = time.perf_counter()
            encode(items)
            durations.append(time.perf_counter() - began)
    except Exception as error:  # a path that cannot run here is just not a candidate
        return Measured(path, error=f"{type(error).__name__}: {error}"[:300])
    cosine = float((np.asarray(first, dtype=np.float64) * reference).sum(axis=1).min())
    return Measured(path, len(items) / min(durations), cosine)


def pick(measured: Sequence[Measured], settings: Settings, unit: str) -> TowerChoice:
    """The fastest allowed path (ONNX Runtime wins near-ties), and why."""
    allowed = [m for m in measured if m.allowed(settings.inference_min_cosine)]
    if not allowed:
        reasons = "; ".join(m.describe(unit) for m in measured)
        raise RuntimeError(f"no inference path ran correctly here: {reasons}")
    fastest = max(m.per_s or 0.0 for m in allowed)
    near = [m for m in allowed if (m.per_s or 0.0) >= fastest * (1 - settings.inference_tie_share)]
    best = max(near, key=lambda m: (m.path.runtime == ONNX, m.per_s or 0.0))
    refused = [m.path.label() for m in measured if m.error is None and m not in allowed]
    reason = f"the fastest of the paths measured here ({best.per_s:.1f} {unit}/s)"
    if best.per_s != fastest:
        reason += (
            f", within {settings.inference_tie_share:.0%} of the fastest: ONNX Runtime starts "
            f"without torch"
        )
    if refused:
        reason += (
            f"; {', '.join(refused)} below cosine {settings.inference_min_cosine:g} to fp32 "
            f"on the check set"
        )
    return TowerChoice(best.path, reason, tuple(measured))


def forced(path: RuntimePath, settings: Settings) -> TowerChoice:
    why = (
        f"forced by the settings (inference_runtime={settings.inference_runtime}, "
        f"inference_precision={settings.inference_precision}, "
        f"inference_device={settings.inference_device}); nothing measured"
    )
    return TowerChoice(path, why)
