"""A random-weight checkpoint of a real open_clip architecture, written locally.

For demos and benchmarks where real weights cannot be fetched: the architecture and the
speed are real, the tags are meaningless. It is loaded through the same settings as a real
checkpoint (SMARTTAGS_MODEL = the config JSON, SMARTTAGS_PRETRAINED = the checkpoint).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def write_random_model(name: str, directory: Path, seed: int = 0) -> tuple[Path, Path]:
    import open_clip
    import torch

    config = open_clip.get_model_config(name)
    if config is None:
        raise ValueError(f"open_clip has no model named {name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / f"{name}-random.json"
    checkpoint_path = directory / f"{name}-random-seed{seed}.pt"
    if not checkpoint_path.exists():
        torch.manual_seed(seed)
        model = open_clip.create_model(name, pretrained=None)
        torch.save(model.state_dict(), checkpoint_path)
    config_path.write_text(json.dumps(config, indent=2))
    return config_path, checkpoint_path


if __name__ == "__main__":  # python -m indexer.random_model NAME DIR -> prints the two paths
    config, checkpoint = write_random_model(sys.argv[1], Path(sys.argv[2]))
    print(config)
    print(checkpoint)
