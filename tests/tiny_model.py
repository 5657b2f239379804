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


MULTILINGUAL_CORPUS = [
    "a dog on a beach",
    "un chien sur la plage",
    "ein Hund am Strand",
    "犬がビーチにいる",
    "a cat in a kitchen",
    "un chat dans une cuisine",
    "sunset over the harbour",
    "coucher de soleil sur le port",
]


def write_tiny_multilingual_model(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny model whose text tower reads a Hugging Face fast tokenizer (WordPiece, trained
    here on a few sentences in four languages), as the multilingual open_clip models do:
    its config names the tokenizer's folder as `hf_tokenizer_name`. Needs transformers."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    folder = directory / "tokenizer"
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    special = ["<pad>", "<unk>", "<s>", "</s>"]
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=special)
    tokenizer.train_from_iterator(MULTILINGUAL_CORPUS * 5, trainer)
    start, end = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", start), ("</s>", end)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
                "model_max_length": 32,
            }
        )
    )
    config = {
        "embed_dim": TINY_EMBED_DIM,
        "vision_cfg": TINY_CONFIG["vision_cfg"],
        "text_cfg": {
            "hf_tokenizer_name": str(folder),
            "context_length": 32,
            "vocab_size": tokenizer.get_vocab_size(),
            "width": 64,
            "heads": 2,
            "layers": 2,
            "pool_type": "eos",  # the end token's output, as MetaCLIP 2's worldwide models
            "eos_id": end,
            "pad_id": tokenizer.token_to_id("<pad>"),
        },
    }
    config_path = directory / "tiny-multilingual.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    module = open_clip.CLIP(**config)
    checkpoint_path = directory / f"tiny-multilingual-seed{seed}.pt"
    torch.save(module.state_dict(), checkpoint_path)
    return config_path, checkpoint_path
