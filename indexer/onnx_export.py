"""Export a loaded open_clip model to ONNX, once per model and checkpoint (needs torch).

Both towers are exported in fp32 and quantized to int8 (ONNX Runtime's dynamic quantization:
int8 weights, activations quantized per batch, so no calibration data is needed). Whether
int8 is used is decided later, on the check set (runtime_choice).

- image tower: input N x S x S x 3 uint8 frames; the graph normalizes the pixels as the
  model's preprocessing says and returns unit rows;
- text tower: input N x L int64 token ids, L free (up to the context) for causal towers
  that read the end token, so the runtime can drop padding; unit rows out;
- the tokenizer, for models with CLIP's BPE tokenizer, so that the text tower runs in a
  process without torch or open_clip (indexer/text_encoder.py).

The exporter is torch's TorchScript-based one: it needs no extra packages and exports these
towers in seconds; the dynamo exporter needs onnxscript and takes several times longer.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from catalog.settings import Settings
from indexer.clip_tokenizer import Framing, build_clip_tokenizer, read_clip_bpe, write_tokenizer
from indexer.export_cache import (
    MODEL_FILE,
    ExportedModel,
    atomic_path,
    model_dir,
    onnx_file,
    read_export,
    write_text_atomic,
)
from indexer.model import ClipModel, encode_causal_text, has_causal_argmax_text
from indexer.onnx_runtime import IMAGE_INPUT, OUTPUT, TEXT_INPUT

OPSET = 17
_EXPORT_BATCH = 2
Step = Callable[[str], None]


class ExportFailed(RuntimeError):
    """The model could not be exported; the torch runtime remains."""


class _ImageTower(torch.nn.Module):
    def __init__(self, model: ClipModel) -> None:
        super().__init__()
        self.model = model.module
        scale, shift = model.pixel_normalization()
        self.register_buffer("scale", scale.clone())
        self.register_buffer("shift", shift.clone())

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        pixels = frames.permute(0, 3, 1, 2).float() * self.scale + self.shift
        return torch.nn.functional.normalize(self.model.encode_image(pixels), dim=-1)


class _TextTower(torch.nn.Module):
    def __init__(self, model: ClipModel, causal: bool) -> None:
        super().__init__()
        self.model = model.module
        self.causal = causal

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.causal:
            features = encode_causal_text(self.model, tokens)
        else:
            features = self.model.encode_text(tokens)
        return torch.nn.functional.normalize(features, dim=-1)


class _TraceableSelfAttention(torch.nn.Module):
    """nn.MultiheadAttention's batch-first self-attention, written so that the tracer keeps
    the sequence length free. torch's own implementation bakes the traced length into its
    reshapes, and a text tower exported that way only takes inputs of that one length."""

    def __init__(self, attention: torch.nn.MultiheadAttention) -> None:
        super().__init__()
        self.inner = attention
        self.heads = attention.num_heads

    def forward(self, query, key, value, need_weights=False, attn_mask=None):
        inner = self.inner
        batch, width = query.shape[0], query.shape[2]
        qkv = torch.nn.functional.linear(query, inner.in_proj_weight, inner.in_proj_bias)
        qkv = qkv.reshape(batch, -1, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(-1, -2) * (float(width // self.heads) ** -0.5)
        if attn_mask is not None:
            scores = scores + attn_mask
        mixed = scores.softmax(dim=-1) @ v
        mixed = mixed.permute(0, 2, 1, 3).reshape(batch, -1, width)
        return inner.out_proj(mixed), None


@contextlib.contextmanager
def _traceable_text_attention(module: torch.nn.Module) -> Iterator[None]:
    """Swap the text transformer's attention layers for traceable ones, for one export."""
    swapped = []
    for block in getattr(getattr(module, "transformer", None), "resblocks", []):
        attention = getattr(block, "attn", None)
        if isinstance(attention, torch.nn.MultiheadAttention) and attention.batch_first:
            block.attn = _TraceableSelfAttention(attention)
            swapped.append((block, attention))
    try:
        yield
    finally:
        for block, attention in swapped:
            block.attn = attention


def export_model(model: ClipModel, settings: Settings, step: Step | None = None) -> ExportedModel:
    """The export of `model` under the data dir, made now unless a finished one is there."""
    directory = model_dir(settings, model.model_id)
    done = read_export(directory)
    if done is not None and done.model_id == model.model_id:
        return done
    if model.precision != "fp32":
        raise ExportFailed("export an fp32 model")
    step = step or (lambda message: None)
    causal = has_causal_argmax_text(model.module)
    files: list[str] = []
    try:
        for tower, export in (("visual", _export_image), ("text", _export_text)):
            step(f"exporting the {tower} tower to ONNX")
            fp32 = directory / onnx_file(tower, "fp32")
            export(model, causal, fp32)
            files.append(fp32.name)
            step(f"quantizing the {tower} tower to int8")
            int8 = directory / onnx_file(tower, "int8")
            _quantize(fp32, int8)
            files.append(int8.name)
    except Exception as error:  # the exporter raises many kinds for unsupported layers
        raise ExportFailed(f"{type(error).__name__}: {error}") from error
    light = _write_light_tokenizer(model, directory)
    exported = ExportedModel(
        directory=directory,
        model_id=model.model_id,
        image_size=model.image_size,
        embed_dim=model.embed_dim,
        logit_scale=model.logit_scale,
        logit_bias=model.logit_bias,
        trim_text=causal,
        light_tokenizer=light,
        files=tuple(files),
    )
    write_text_atomic(directory / MODEL_FILE, exported.to_json())  # last: marks it finished
    return exported


def _export_image(model: ClipModel, causal: bool, target: Path) -> None:
    size = model.image_size
    example = torch.zeros((_EXPORT_BATCH, size, size, 3), dtype=torch.uint8)
    _export(_ImageTower(model), example, IMAGE_INPUT, {0: "batch"}, target)


def _export_text(model: ClipModel, causal: bool, target: Path) -> None:
    context = _context_length(model)
    example = torch.as_tensor(model.tokenizer(["a photo of a dog.", "a"]), dtype=torch.long)
    axes = {0: "batch", 1: "length"} if causal else {0: "batch"}
    if not causal:
        example = example[:, :context]
    with _traceable_text_attention(model.module) if causal else contextlib.nullcontext():
        _export(_TextTower(model, causal), example, TEXT_INPUT, axes, target)


def _export(
    tower: torch.nn.Module, example: torch.Tensor, name: str, axes: dict, target: Path
) -> None:
    # No inference mode here: under it nn.MultiheadAttention takes a fused kernel that has no
    # ONNX form; the fast path is switched off for the same reason.
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with atomic_path(target) as temporary, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter, nothing to act on
            _trace(tower, example, name, axes, temporary)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)


def _trace(
    tower: torch.nn.Module, example: torch.Tensor, name: str, axes: dict, temporary: Path
) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints graphs on failures
        torch.onnx.export(
            tower.eval(),
            (example,),
            str(temporary),
            dynamo=False,
            input_names=[name],
            output_names=[OUTPUT],
            dynamic_axes={name: axes, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "consider pre-processing" advice, printed every time
    try:
        with atomic_path(target) as temporary:
            quantize_dynamic(
                source,
                temporary,
                weight_type=QuantType.QInt8,
            )
    finally:
        quiet.setLevel(level)


def _context_length(model: ClipModel) -> int:
    return int(getattr(model.tokenizer, "context_length", None) or 77)


_CLEAN_MODES = {"_clean_lower": "lower", "_clean_whitespace": "whitespace"}


def _write_light_tokenizer(model: ClipModel, directory: Path) -> bool:
    """Write the tokenizer beside the towers in a form that needs neither torch nor open_clip
    (CLIP's BPE, or a Hugging Face fast tokenizer); False for others (those models encode
    text on torch, so the API cannot search by text)."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer, default_bpe

    tokenizer = model.tokenizer
    mode = _CLEAN_MODES.get(getattr(getattr(tokenizer, "clean_fn", None), "__name__", ""))
    if mode is None:
        return False
    if isinstance(tokenizer, HFTokenizer):
        return _write_hf_tokenizer(tokenizer, directory, _context_length(model), mode)
    if type(tokenizer) is not SimpleTokenizer or tokenizer.reduction_fn is not None:
        return False
    framing = Framing(
        context_length=_context_length(model),
        start_id=tokenizer.sot_token_id,
        end_id=tokenizer.eot_token_id,
        clean=mode,
    )
    vocab, _ = read_clip_bpe(Path(default_bpe()))
    if vocab != tokenizer.encoder:  # another vocabulary file or extra special tokens
        return False
    write_tokenizer(directory, build_clip_tokenizer(Path(default_bpe())), framing)
    return True


def _write_hf_tokenizer(tokenizer, directory: Path, context: int, clean: str) -> bool:
    """A Hugging Face fast tokenizer as open_clip calls it (padded and truncated to the
    context, special tokens added), saved in the `tokenizers` library's own format."""
    from tokenizers import Tokenizer

    hf = tokenizer.tokenizer
    backend = getattr(hf, "backend_tokenizer", None)  # fast tokenizers only
    if tokenizer.tokenizer_mode or backend is None or hf.pad_token_id is None:
        return False
    light = Tokenizer.from_str(backend.to_str())
    light.enable_truncation(max_length=context)
    light.enable_padding(length=context, pad_id=hf.pad_token_id, pad_token=hf.pad_token)
    end = hf.eos_token_id if hf.eos_token_id is not None else hf.sep_token_id
    framing = Framing(
        context_length=context,
        start_id=hf.bos_token_id if hf.bos_token_id is not None else hf.pad_token_id,
        end_id=end if end is not None else hf.pad_token_id,
        pad_id=hf.pad_token_id,
        clean=clean,
        kind="hf",
        strip_id=hf.sep_token_id if tokenizer.strip_sep_token else None,
    )
    write_tokenizer(directory, light, framing)
    return True
