"""Where the exported model lives under the data dir, and how a process finds it without torch.

Layout, under ``data_dir/cache/onnx``:

- ``<model slug>/`` per model and checkpoint: ``visual-fp32.onnx``, ``visual-int8.onnx``,
  ``text-fp32.onnx``, ``text-int8.onnx``, the tokenizer (``tokenizer.json``, ``text.json``),
  ``model.json`` (written last: a folder without it is an export that did not finish) and
  ``choice-<hardware>.json``, the runtime measured best on each machine that used it.
- ``resolved/<settings key>.json``: which model a (model, pretrained) setting named when it
  was last resolved, keyed by the two settings and the size and mtime of any file they name.
  Resolving a setting from scratch needs open_clip (built-in configs, pretrained tags) and
  a full read of the checkpoint (its hash is part of the model id); a process that finds
  this record needs neither.

Every file is written to a temporary name and renamed into place, so a reader sees a whole
file or none, and two processes exporting at once do no harm.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from catalog.settings import Settings
from indexer.embedding_cache import model_slug

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
TOWERS = ("visual", "text")
PRECISIONS = ("fp32", "int8")


def cache_root(settings: Settings) -> Path:
    return settings.data_dir / "cache" / "onnx"


def model_dir(settings: Settings, model_id: str) -> Path:
    return cache_root(settings) / model_slug(model_id)


def onnx_file(tower: str, precision: str) -> str:
    return f"{tower}-{precision}.onnx"


@dataclass(frozen=True)
class ExportedModel:
    """An export on disk: what the runtimes need to know besides the graphs."""

    directory: Path
    model_id: str
    image_size: int
    embed_dim: int
    logit_scale: float
    logit_bias: float | None
    trim_text: bool  # the text tower reads the end token of a causal model: padding may go
    light_tokenizer: bool  # tokenizer.json is there: the text tower runs without open_clip
    files: tuple[str, ...]  # the ONNX files present

    def path(self, tower: str, precision: str) -> Path | None:
        name = onnx_file(tower, precision)
        return self.directory / name if name in self.files else None

    def to_json(self) -> str:
        data = {
            "format": FORMAT_VERSION,
            "model_id": self.model_id,
            "image_size": self.image_size,
            "embed_dim": self.embed_dim,
            "logit_scale": self.logit_scale,
            "logit_bias": self.logit_bias,
            "trim_text": self.trim_text,
            "light_tokenizer": self.light_tokenizer,
            "files": list(self.files),
        }
        return json.dumps(data, indent=2)


def read_export(directory: Path) -> ExportedModel | None:
    """The finished export in `directory`, or None (missing, unfinished, other format)."""
    try:
        data = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT_VERSION:
            return None
        files = tuple(name for name in data["files"] if (directory / name).is_file())
        return ExportedModel(
            directory=directory,
            model_id=str(data["model_id"]),
            image_size=int(data["image_size"]),
            embed_dim=int(data["embed_dim"]),
            logit_scale=float(data["logit_scale"]),
            logit_bias=None if data["logit_bias"] is None else float(data["logit_bias"]),
            trim_text=bool(data["trim_text"]),
            light_tokenizer=bool(data["light_tokenizer"]),
            files=files,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_export(settings: Settings) -> ExportedModel | None:
    """The export of the model the settings name, found without torch or open_clip."""
    model_id = resolved_model_id(settings)
    return read_export(model_dir(settings, model_id)) if model_id else None


# settings -> model id, remembered
def settings_key(settings: Settings) -> str:
    parts: list[Any] = [
        settings.model,
        _stamp(settings.model),
        settings.pretrained,
        _stamp(settings.pretrained),
        str(settings.weights_cache_dir),
        _open_clip_version(),  # a built-in config may change with the library
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def resolved_model_id(settings: Settings) -> str | None:
    path = cache_root(settings) / "resolved" / f"{settings_key(settings)}.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["model_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_model_id(settings: Settings, model_id: str) -> None:
    path = cache_root(settings) / "resolved" / f"{settings_key(settings)}.json"
    write_text_atomic(path, json.dumps({"model_id": model_id}))


def _stamp(value: str) -> list[int] | None:
    try:
        info = os.stat(value)
    except (OSError, ValueError):
        return None
    return [info.st_size, info.st_mtime_ns]


def _open_clip_version() -> str:
    try:
        return metadata.version("open_clip_torch")
    except metadata.PackageNotFoundError:
        return "-"


# atomic writes
def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


class atomic_path:
    """A temporary path beside `path`, renamed onto it when the block succeeds."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(descriptor)
        self.temporary = Path(name)
        return self.temporary

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)
