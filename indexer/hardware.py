"""What this machine computes natively: CPU instruction sets and GPUs, for the runtime choice.

Nothing here imports torch: the answer must be cheap enough for every process start. The CPU
flags come from /proc/cpuinfo on Linux (the kernel's own list, read in a millisecond); other
systems ask py-cpuinfo when it is installed, and otherwise report no special instruction set,
which only makes the choice more careful (fp32 and a measured int8).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")
# Flags that make bf16 matrix products native: AVX-512 BF16 (Zen 4+, Cooper Lake+) and
# AMX tiles (Sapphire Rapids+). Without them bf16 is emulated and slower than fp32.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# Dot-product instructions for int8 (VNNI on AVX-512 or AVX2-class cores, and AMX int8).
INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")
_ARM_BF16 = frozenset({"bf16"})  # aarch64 "Features" that name bf16 dot products
_ARM_INT8 = frozenset({"asimddp", "i8mm"})
CUDA_PROVIDER = "CUDAExecutionProvider"


@dataclass(frozen=True)
class Hardware:
    cpu_name: str
    cores: int
    flags: frozenset[str]
    onnx_providers: tuple[str, ...]  # () when onnxruntime is not installed
    onnxruntime_version: str | None

    @property
    def native_bf16(self) -> bool:
        return bool(self.flags & (BF16_FLAGS | _ARM_BF16))

    @property
    def int8_dot_product(self) -> bool:
        return bool(self.flags & (INT8_FLAGS | _ARM_INT8))

    @property
    def onnx_cuda(self) -> bool:
        return CUDA_PROVIDER in self.onnx_providers

    def summary(self) -> str:
        """One line for people: the CPU and what it does natively."""
        shown = [flag for flag in _VECTOR_FLAGS if flag in self.flags]
        native = []
        native.append("native bf16" if self.native_bf16 else "no native bf16")
        native.append("int8 dot products" if self.int8_dot_product else "no int8 dot products")
        gpu = "; ONNX Runtime sees CUDA" if self.onnx_cuda else ""
        return (
            f"{self.cpu_name}, {self.cores} cores ({', '.join(shown) or 'no AVX2'}): "
            f"{', '.join(native)}{gpu}"
        )

    def fingerprint(self) -> str:
        """Changes when a measured runtime choice may no longer hold on this machine."""
        parts = [self.cpu_name, str(self.cores), *sorted(self.flags & set(_VECTOR_FLAGS))]
        parts += [*self.onnx_providers, self.onnxruntime_version or "-"]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def detect() -> Hardware:
    """This machine, as the runtime choice sees it (once per process)."""
    name, flags = _cpu()
    providers, version = _onnxruntime()
    return Hardware(name, os.cpu_count() or 1, flags, providers, version)


def _cpu() -> tuple[str, frozenset[str]]:
    if _CPUINFO.is_file():
        return _parse_cpuinfo(_CPUINFO.read_text(encoding="utf-8", errors="replace"))
    try:
        import cpuinfo  # py-cpuinfo: macOS, Windows, BSDs
    except ImportError:
        return sys.platform, frozenset()
    info = cpuinfo.get_cpu_info()
    return str(info.get("brand_raw", sys.platform)), frozenset(info.get("flags", []))


def _parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """The first processor's name and flags (x86 "flags", aarch64 "Features")."""
    name, flags = "unknown CPU", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and name == "unknown CPU":
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    return name, flags


def _onnxruntime() -> tuple[tuple[str, ...], str | None]:
    try:
        version = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        try:
            version = metadata.version("onnxruntime-gpu")
        except metadata.PackageNotFoundError:
            return (), None
    import onnxruntime

    return tuple(onnxruntime.get_available_providers()), version


def torch_cuda_available() -> bool:
    """Whether torch sees a GPU; only asked where torch is loaded anyway (it costs seconds)."""
    import torch

    return bool(torch.cuda.is_available())
