"""Tiny open_clip models for tests: real architecture and loading path, random weights.

No weights can be downloaded on the development machines, so tests write a small model-config
JSON in open_clip's format, build it with random weights, save the state dict as a checkpoint,
and point Settings at both, exactly as a user with a local checkpoint would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import open_clip
import torch

from catalog.settings import Settings

TINY_IMAGE_SIZE = 64
TINY_EMBED_DIM = 32
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": TINY_EMBED_DIM,
    "vision_cfg": {
        "image_size": TINY_IMAGE_SIZE,
        "layers": 2,
        "width": 64,
        "head_width": 32,
        "patch_size": 16,
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,  # the real tokenizer's, so open_clip's tokenizer fits
        "width": 64,
        "heads": 2,
        "layers": 2,
    },
}


def write_tiny_model(directory: Path, seed: int = 0, name: str = "tiny-clip") -> tuple[Path, Path]:
    """Write a model-config JSON and a random-weight checkpoint; return (config, checkpoint)."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / f"{name}.json"
    config_path.write_text(json.dumps(TINY_CONFIG, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    module = open_clip.CLIP(**TINY_CONFIG)
    checkpoint_path = directory / f"{name}-seed{seed}.pt"
    torch.save(module.state_dict(), checkpoint_path)
    return config_path, checkpoint_path


def tiny_settings(directory: Path, seed: int = 0, **overrides: Any) -> Settings:
    """Settings that select a freshly written tiny model, with data under `directory`."""
    config_path, checkpoint_path = write_tiny_model(directory / "model", seed=seed)
    values: dict[str, Any] = {
        "model": str(config_path),
        "pretrained": str(checkpoint_path),
        "data_dir": directory / "data",
        # torch fp32 unless a test asks for another path: no export or measuring per test
        "inference_runtime": "torch",
        "inference_precision": "fp32",
        "encode_batch_size": 4,
        "inference_threads": 1,
    }
    values.update(overrides)
    return Settings(**values)
