"""The CLIP model behind the tagger: loaded once per process, encodes frames and texts.

A model is an open_clip architecture (``settings.model``: a built-in name such as ``ViT-B-32``
or the path of a model-config JSON in open_clip's format) plus weights (``settings.pretrained``:
an open_clip pretrained tag, fetched into the weights cache, or the path of a local checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from open_clip.factory import parse_model_name
from open_clip.pretrained import download_pretrained

from catalog.settings import Settings
from indexer.hub import hub_reachable
from indexer.model_errors import ModelUnavailable, local_weights_help

_HASH_CHUNK_BYTES = 1 << 20
_WRAPPED_CONFIG_KEY = "model_cfg"  # the form open_clip writes next to Hub checkpoints
_REQUIRED_CONFIG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")
_TAG_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


@dataclass(frozen=True)
class Weights:
    """What open_clip loads: a checkpoint file, plus what its pretrained tag (if any) says."""

    checkpoint: str
    weights_id: str  # the weights' part of model_id
    preprocess: dict[str, Any] = field(default_factory=dict)
    quick_gelu: bool = False


class ClipModel:
    """An open_clip model ready for inference: uint8 frames and texts in, unit vectors out."""

    def __init__(
        self,
        module: torch.nn.Module,
        tokenizer: Any,
        model_id: str,
        settings: Settings,
        precision: str = "fp32",
        device: str = "cpu",
    ) -> None:
        self._module = module.eval().to(device)
        self.precision = precision
        self.device = device
        self._tokenizer = tokenizer
        self.model_id = model_id
        self.image_size = _square_size(module.visual.image_size)
        self.logit_scale = float(module.logit_scale.exp().item())
        bias = getattr(module, "logit_bias", None)  # SigLIP: sigmoid(scale * cos + bias)
        self.logit_bias = None if bias is None else float(bias.item())
        self.embed_dim = _embed_dim(module, tokenizer)
        self._batch_size = settings.encode_batch_size
        self._text_batch_size = settings.text_batch_size
        self._input_dtype = _first_conv_dtype(module.visual)
        mean, std = _mean_std(module.visual)
        # (x / 255 - mean) / std folded into one multiply-add on the uint8 batch
        self._pixel_scale = (1.0 / (255.0 * std)).view(1, 3, 1, 1).to(device)
        self._pixel_shift = (-mean / std).view(1, 3, 1, 1).to(device)

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 frames (already at the model's input size) -> N x D unit vectors."""
        self._check_frames(batch)
        outputs = [
            self._encode_image_chunk(batch[start : start + self._batch_size])
            for start in range(0, len(batch), self._batch_size)
        ]
        return _concat(outputs, self.embed_dim)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> len(texts) x D unit vectors."""
        outputs = [
            self._encode_text_chunk(texts[start : start + self._text_batch_size])
            for start in range(0, len(texts), self._text_batch_size)
        ]
        return _concat(outputs, self.embed_dim)

    def _check_frames(self, batch: np.ndarray) -> None:
        expected = (self.image_size, self.image_size, 3)
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != expected:
            raise ValueError(
                f"frames must be uint8 N x {self.image_size} x {self.image_size} x 3, "
                f"got {batch.dtype} {batch.shape}"
            )

    @property
    def module(self) -> torch.nn.Module:
        return self._module

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def pixel_normalization(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) that turn uint8 N x 3 x S x S pixels into the model's input."""
        return self._pixel_scale, self._pixel_shift

    def _encode_image_chunk(self, frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            pixels = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
            pixels = pixels.permute(0, 3, 1, 2)
            pixels = pixels.float().mul_(self._pixel_scale).add_(self._pixel_shift)
            features = self._module.encode_image(pixels.to(self._input_dtype))
            return _unit_rows(features)

    def _encode_text_chunk(self, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            tokens = self._tokenizer(texts).to(self.device)
            if has_causal_argmax_text(self._module):
                return _unit_rows(encode_causal_text(self._module, trim_padding(tokens)))
            return _unit_rows(self._module.encode_text(tokens))


_MODELS: dict[tuple[Any, ...], ClipModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(settings: Settings, precision: str = "fp32", device: str = "cpu") -> ClipModel:
    """The model the settings name on torch at `precision` (fp32 or bf16) on `device` (cpu,
    cuda), built on first use and shared by the whole process."""
    key = (*_cache_key(settings), precision, device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _build(settings, precision, device)
        return _MODELS[key]


def clear_model_cache() -> None:
    with _MODELS_LOCK:
        _MODELS.clear()


def _cache_key(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.model,
        _file_stamp(settings.model),
        settings.pretrained,
        _file_stamp(settings.pretrained),
        settings.encode_batch_size,
        settings.text_batch_size,
        settings.inference_threads,
        settings.weights_cache_dir,
    )


def _file_stamp(value: str) -> tuple[int, int] | None:
    """Size and mtime of a path-valued setting, so that a replaced file is loaded again."""
    try:
        stat = os.stat(value)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _build(settings: Settings, precision: str, device: str) -> ClipModel:
    from indexer.export_cache import remember_model_id

    set_torch_threads(settings)
    name, architecture_id = _resolve_architecture(settings)
    weights = _resolve_weights(name, settings)
    try:
        module = create_open_clip(name, weights, precision)
    except (RuntimeError, ValueError, KeyError, OSError) as error:
        raise ModelUnavailable(
            f"could not load weights {weights.checkpoint} into model {name}: {error}"
        ) from error
    model_id = f"{architecture_id}/{weights.weights_id}"
    remember_model_id(settings, model_id)  # later processes find the export without torch
    tokenizer = open_clip.get_tokenizer(name)
    return ClipModel(module, tokenizer, model_id, settings, precision, device)


def create_open_clip(
    name: str, weights: Weights | None = None, precision: str = "fp32"
) -> torch.nn.Module:
    """The open_clip module at `precision` (fp32, bf16); without `weights` it has random
    weights (benchmarks: the architecture, and so the cost, is the real one)."""
    # open_clip's own "bf16" keeps LayerNorm in fp32
    module = open_clip.create_model(
        name,
        pretrained=weights.checkpoint if weights else None,
        precision=precision,
        device="cpu",
        force_quick_gelu=bool(weights and weights.quick_gelu),
        force_preprocess_cfg=weights.preprocess if weights else None,
    )
    return reparameterized(module)


def reparameterized(module: torch.nn.Module) -> torch.nn.Module:
    """MobileCLIP's towers train with parallel branches that fold into one for inference
    (timm's reparameterization; other models have nothing to fold and skip the import)."""
    hooks = ("reparameterize", "switch_to_deploy")
    if not any(hasattr(part, hook) for part in module.modules() for hook in hooks):
        return module
    from timm.utils.model import reparameterize_model

    return reparameterize_model(module.eval(), inplace=True)


def set_torch_threads(settings: Settings) -> None:
    torch.set_num_threads(settings.inference_threads or os.cpu_count() or 1)


def _resolve_architecture(settings: Settings) -> tuple[str, str]:
    """The open_clip registry name of the configured architecture, and its part of model_id
    (name and a hash of the config, so that an edited config is a different model)."""
    schema, _ = parse_model_name(settings.model)
    if schema:
        raise ModelUnavailable(
            f"model {settings.model!r}: open_clip '{schema}:' names are not supported; set "
            f"SMARTTAGS_MODEL to a model name or a model-config JSON and SMARTTAGS_PRETRAINED "
            f"to a tag or a local checkpoint"
        )
    if _looks_like_path(settings.model, (".json",)):
        return _register_config_file(Path(settings.model), settings)
    config = open_clip.get_model_config(settings.model)
    if config is None:
        raise ModelUnavailable(
            f"unknown model {settings.model!r}: set SMARTTAGS_MODEL to an open_clip model name "
            f"(e.g. ViT-B-32) or to the path of an open_clip model-config JSON"
        )
    return settings.model, f"{settings.model}-{_config_hash(config)}"


def _register_config_file(path: Path, settings: Settings) -> tuple[str, str]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelUnavailable(
            f"cannot read model config {path} (SMARTTAGS_MODEL): {error}"
        ) from error
    config = loaded.get(_WRAPPED_CONFIG_KEY, loaded) if isinstance(loaded, dict) else None
    if not isinstance(config, dict) or not all(k in config for k in _REQUIRED_CONFIG_KEYS):
        raise ModelUnavailable(
            f"{path} is not an open_clip model config: it needs {', '.join(_REQUIRED_CONFIG_KEYS)}"
        )
    # A copy under a content-derived name: registering the user's file as-is would let a
    # file called ViT-B-32.json silently replace the built-in architecture of that name.
    name = f"{path.stem}-{_config_hash(config)}"
    registered = settings.data_dir / "cache" / "model_configs" / f"{name}.json"
    if not registered.is_file():
        registered.parent.mkdir(parents=True, exist_ok=True)
        temporary = registered.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(config, sort_keys=True), encoding="utf-8")
        os.replace(temporary, registered)
    if name not in open_clip.list_models():
        open_clip.add_model_config(registered)
    return name, name


def _resolve_weights(name: str, settings: Settings) -> Weights:
    """The checkpoint file of the configured weights: a local path, or a tag's fetched file."""
    pretrained = settings.pretrained
    if _looks_like_path(pretrained, _CHECKPOINT_SUFFIXES):
        checkpoint = Path(pretrained).expanduser()
        if not checkpoint.is_file():
            raise ModelUnavailable(
                f"checkpoint {checkpoint} (SMARTTAGS_PRETRAINED) does not exist or is not a file"
            )
        return Weights(str(checkpoint), f"ckpt-{checkpoint_hash(checkpoint)}")
    tag_config = open_clip.get_pretrained_cfg(name, pretrained)
    if not tag_config:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
        raise ModelUnavailable(
            f"{pretrained!r} is neither a pretrained tag of model {name} (known tags: {known}) "
            f"nor an existing checkpoint file: set SMARTTAGS_PRETRAINED to a tag or to the path "
            f"of a local checkpoint, and SMARTTAGS_MODEL to its architecture"
        )
    return Weights(
        checkpoint=_fetch_tag(name, pretrained, tag_config, settings),
        weights_id=pretrained.lower().replace("-", "_"),  # open_clip's own tag spelling
        preprocess={k: tag_config[k] for k in _TAG_PREPROCESS_KEYS if k in tag_config},
        # open_clip only warns when a tag trained with QuickGELU meets a GELU config; the
        # weights are only right with the activation they were trained with.
        quick_gelu=bool(tag_config.get("quick_gelu", False)),
    )


def _fetch_tag(name: str, tag: str, tag_config: dict[str, Any], settings: Settings) -> str:
    online = hub_reachable(settings)  # once, quickly: offline, nothing waits on retries
    try:
        fetched = download_pretrained(tag_config, cache_dir=_weights_cache_dir(settings))
    except Exception as error:  # the hub client raises many kinds, all meaning "not here"
        fetched, reason = "", f"{type(error).__name__}: {error}"
    else:
        reason = "the download gave no file"
    if not fetched or not Path(fetched).is_file():
        where = (
            "could not be downloaded"
            if online
            else f"the model hub ({settings.hub_host}) cannot be reached from here"
        )
        raise ModelUnavailable(
            f"the pretrained weights {tag!r} of model {name} are not in the local cache and "
            f"{where}; {local_weights_help(name)} (cause: {reason})"
        )
    return str(fetched)


def _weights_cache_dir(settings: Settings) -> str | None:
    return str(settings.weights_cache_dir) if settings.weights_cache_dir else None


def checkpoint_hash(path: Path) -> str:
    """Hash of a checkpoint's full content.

    Reading the whole file costs about a second per GB, once per process; a sampled hash could
    give two fine-tunes that differ only in a few tensors the same id and mix their caches.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _config_hash(config: dict[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _looks_like_path(value: str, suffixes: tuple[str, ...]) -> bool:
    return (
        os.sep in value
        or "/" in value
        or value.lower().endswith(suffixes)
        or Path(value).expanduser().is_file()
    )


def _square_size(size: int | tuple[int, int] | list[int]) -> int:
    if isinstance(size, int):
        return size
    height, width = size
    if height != width:
        raise ModelUnavailable(f"only square image inputs are supported, the model wants {size}")
    return int(height)


def _mean_std(visual: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    preprocess = visual.preprocess_cfg  # set by open_clip: the tag's values, else OpenAI's
    return (
        torch.tensor(preprocess["mean"], dtype=torch.float32),
        torch.tensor(preprocess["std"], dtype=torch.float32),
    )


def _embed_dim(module: torch.nn.Module, tokenizer: Any) -> int:
    projection = getattr(module, "text_projection", None)
    if isinstance(projection, torch.nn.Linear):
        return projection.out_features
    if isinstance(projection, torch.Tensor):
        return int(projection.shape[-1])
    with torch.inference_mode():  # towers without a plain projection: ask the model
        return int(module.encode_text(tokenizer([""])).shape[-1])


def _first_conv_dtype(visual: torch.nn.Module) -> torch.dtype:
    """The dtype the image tower's stem expects (bf16 weights want bf16 pixels)."""
    for module in visual.modules():
        if isinstance(module, torch.nn.Conv2d):
            return module.weight.dtype
    return torch.float32


def has_causal_argmax_text(module: torch.nn.Module) -> bool:
    return (
        isinstance(module, open_clip.CLIP)
        and getattr(module, "text_pool_type", None) == "argmax"
        and getattr(module, "attn_mask", None) is not None
    )


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """The tokens up to the batch's last end-of-text token (CLIP's highest id).

    The text tower is causal and reads its output at the end-of-text token, so the padding
    after it cannot change the result; prompts are a dozen tokens of the 77-token context,
    and skipping the rest makes a vocabulary's first embedding several times faster.
    """
    return tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]


def encode_causal_text(module: open_clip.CLIP, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP.encode_text for tokens of any length up to the context (see trim_padding)."""
    length = tokens.shape[1]
    cast_dtype = module.transformer.get_cast_dtype()
    x = module.token_embedding(tokens).to(cast_dtype)
    x = x + module.positional_embedding[:length].to(cast_dtype)
    x = module.transformer(x, attn_mask=module.attn_mask[:length, :length])
    x = module.ln_final(x)
    x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
    projection = module.text_projection
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def _unit_rows(features: torch.Tensor) -> np.ndarray:
    features = features.float().cpu()
    features = features / features.norm(dim=-1, keepdim=True).clamp_min(torch.finfo().tiny)
    return features.numpy()


def _concat(chunks: list[np.ndarray], dim: int) -> np.ndarray:
    if not chunks:
        return np.zeros((0, dim), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
