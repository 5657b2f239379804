"""The error a model that cannot be loaded raises: importable without torch, so that callers
(the CLI) can catch it without loading torch themselves."""

from __future__ import annotations


class ModelUnavailable(RuntimeError):
    """The configured model or its weights cannot be loaded on this machine."""


DEMO_MODEL_COMMAND = 'eval "$(smarttags demo-model .data/demo-model)"'


def local_weights_help(model: str) -> str:
    """How to go on without a download: the exact settings, or the demo aid's command."""
    return (
        f"to go on, put a checkpoint on this machine and set SMARTTAGS_MODEL={model} and "
        "SMARTTAGS_PRETRAINED=/path/to/the/checkpoint (a .pt/.bin/.safetensors file; "
        "SMARTTAGS_MODEL may also name an open_clip model-config JSON); or, only to try the "
        "pipeline, with RANDOM weights (real speed, meaningless tags): "
        f"{DEMO_MODEL_COMMAND}"
    )
