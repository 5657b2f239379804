"""The quality/speed frontier of candidate default models: image-tower throughput on this
machine beside the published zero-shot ImageNet-1k top-1 accuracy.

    .venv/bin/python -m bench.model_frontier
    .venv/bin/python -m bench.model_frontier --models ViT-B-32 MobileCLIP2-S2

Random weights, real architectures (open_clip builds them with pretrained=None, MobileCLIP
towers reparameterized as for inference). Each model runs in a fresh process: torch fp32,
then the image tower exported to ONNX and run by ONNX Runtime in fp32 and int8. Prints
figures only. The accuracies are the published ones (sources in PUBLISHED_SOURCES); random
weights cannot measure quality.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench.index_throughput import peak_rss_mb, run_isolated

# zero-shot ImageNet-1k top-1 (%) of the best public weights of each architecture
PUBLISHED = {
    "ViT-B-32": (69.2, "datacomp_xl_s13b_b90k", "openclip"),
    "ViT-B-32-256": (72.8, "datacomp_s34b_b86k", "openclip"),
    "ViT-B-16": (76.2, "dfn2b", "openclip"),
    "ViT-B-32-SigLIP2-256": (74.0, "webli", "siglip2"),
    "ViT-B-16-SigLIP2": (78.2, "webli", "siglip2"),
    "ViT-B-16-SigLIP2-256": (79.1, "webli", "siglip2"),
    "MobileCLIP-S1": (72.6, "datacompdr", "mobileclip"),
    "MobileCLIP-S2": (74.4, "datacompdr", "mobileclip"),
    "MobileCLIP-B": (77.2, "datacompdr_lt", "mobileclip"),
    "MobileCLIP2-S0": (71.5, "dfndr2b", "mobileclip2"),
    "MobileCLIP2-S2": (77.2, "dfndr2b", "mobileclip2"),
    "MobileCLIP2-B": (79.4, "dfndr2b", "mobileclip2"),
}
PUBLISHED_SOURCES = {
    "openclip": "open_clip docs/openclip_results.csv (ImageNet 1k column)",
    "siglip2": "SigLIP 2 paper, arXiv 2502.14786, Table 1",
    "mobileclip": "MobileCLIP paper (CVPR 2024), arXiv 2311.17049, and its model cards",
    "mobileclip2": "MobileCLIP2 paper (TMLR 2025), arXiv 2508.20691",
}
BATCH = 16
MIN_SECONDS = 6.0


def measure_model(name: str) -> dict[str, Any]:
    import torch

    from indexer.model import create_open_clip

    torch.set_num_threads(torch.get_num_threads())
    module = create_open_clip(name).eval()
    size = _size(module.visual.image_size)
    frames = np.random.default_rng(0).integers(0, 256, (BATCH, size, size, 3), dtype=np.uint8)
    tower = _tower(module)
    row: dict[str, Any] = {"model": name, "size": size}
    with torch.inference_mode():
        row["torch_fp32"] = _rate(lambda: tower(torch.from_numpy(frames)))
    row.update(_onnx_rates(tower, frames))
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def _tower(module):
    from indexer.onnx_export import _ImageTower

    mean = module.visual.preprocess_cfg["mean"]
    std = module.visual.preprocess_cfg["std"]
    import torch

    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    shim = SimpleNamespace(
        module=module, pixel_normalization=lambda: (1 / (255 * std_t), -mean_t / std_t)
    )
    return _ImageTower(shim).eval()  # type: ignore[arg-type]


def _onnx_rates(tower, frames: np.ndarray) -> dict[str, Any]:
    import torch

    from indexer.onnx_export import _export, _quantize
    from indexer.onnx_runtime import IMAGE_INPUT, open_session

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        fp32, int8 = Path(folder) / "v.onnx", Path(folder) / "v8.onnx"
        try:
            _export(tower, torch.from_numpy(frames[:2]), IMAGE_INPUT, {0: "batch"}, fp32)
            _quantize(fp32, int8)
        except Exception as error:  # report, do not stop the table
            return {"onnx_error": f"{type(error).__name__}: {str(error)[:80]}"}
        for label, path in (("onnx_fp32", fp32), ("onnx_int8", int8)):
            session = open_session(path, None)
            out[label] = _rate(lambda s=session: s.run(None, {IMAGE_INPUT: frames}))
    return out


def _rate(work) -> float:
    work()  # warm-up
    durations: list[float] = []
    start = time.perf_counter()
    while len(durations) < 2 or time.perf_counter() - start < MIN_SECONDS:
        began = time.perf_counter()
        work()
        durations.append(time.perf_counter() - began)
    return BATCH / min(durations)


def _size(value) -> int:
    return value if isinstance(value, int) else int(value[0])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(PUBLISHED))
    arguments = parser.parse_args(argv)
    print(
        f"{'model':<22} {'px':>4} {'IN-1k %':>8} {'torch fp32':>11} {'onnx fp32':>10} "
        f"{'onnx int8':>10} {'peak RSS':>9}  (images/s, batch {BATCH})"
    )
    for name in arguments.models:
        row = run_isolated(measure_model, name)
        accuracy = PUBLISHED.get(name, (float("nan"), "", ""))[0]
        onnx = (
            f"{row.get('onnx_fp32', 0):>10.1f} {row.get('onnx_int8', 0):>10.1f}"
            if "onnx_error" not in row
            else f"{'export failed: ' + row['onnx_error']:>21}"
        )
        print(
            f"{name:<22} {row['size']:>4} {accuracy:>8.1f} {row['torch_fp32']:>11.1f} {onnx} "
            f"{row['peak_rss_mb']:>6.0f} MB",
            flush=True,
        )
    print("accuracy sources:")
    for key, source in PUBLISHED_SOURCES.items():
        print(f"  {key}: {source}")


if __name__ == "__main__":
    main()
