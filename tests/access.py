"""An API world for the access and contract tests: a seeded SQLite store, one key per role,
a training run, a poster and a job, and a tiny model exported to ONNX with the assets'
vectors, so every route has something to answer about (search by meaning included)."""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from catalog.asset import MediaType
from catalog.keys import Role, create_key, open_key_store
from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from catalog.training_runs import TrainingRecord, claim_run, save_record
from catalog.vectors import AssetVectors
from indexer.query_encoder import LightQueryEncoder
from tests.backends import make_settings
from tests.fixtures import asset, tag
from tests.tiny_model import write_tiny_model

JPEG_HEAD = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # sniffed as a JPEG; a worker would fail it


@dataclass
class World:
    settings: Settings
    store: SqliteStore
    keys: dict[Role, str]  # role -> key
    job_id: str
    encoder: LightQueryEncoder

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"X-API-Key": self.keys[role]}


def jpeg_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


@cache
def _exported() -> tuple[dict[str, Any], Path, dict[str, AssetVectors]]:
    """A tiny model exported once per test process: its settings, the data dir's cache with
    the export, and the vectors of the world's assets."""
    from indexer.engine import TaggingEngine

    root = Path(tempfile.mkdtemp(prefix="smarttags-world-model-"))
    config, checkpoint = write_tiny_model(root / "model")
    model = {
        "model": str(config),
        "pretrained": str(checkpoint),
        "inference_runtime": "onnx",
        "inference_precision": "fp32",
        "inference_threads": 1,
    }
    engine = TaggingEngine(make_settings(root, **model))
    size = engine.image_size
    frames = engine.encode(
        [np.full((size, size, 3), shade, np.uint8) for shade in (30, 90, 160, 220)]
    )
    vectors = {
        "a1": engine.vectors(frames[:3], [0.0, 1.5, 3.0], 4.5, MediaType.video),
        "a2": engine.vectors(frames[3:], [0.0], None, MediaType.image),
    }
    return model, root / "data" / "cache", vectors


def make_world(tmp_path: Path, **overrides) -> World:
    model, cache_dir, vectors = _exported()
    settings = make_settings(tmp_path, library_root=tmp_path / "library", **model, **overrides)
    shutil.copytree(cache_dir, settings.data_dir / "cache")
    store = SqliteStore(settings)
    store.upsert_many(
        [
            asset(
                "a1",
                path="campaigns/summer/beach.mp4",
                title="Woman running",
                smart_tags=[tag("running", 0.88, "action", [[0.0, 4.5]]), tag("beach", 0.95)],
                manual_tags=["summer"],
            ),
            asset("a2", path="campaigns/winter/snow.jpg", title="Snow"),
        ]
    )
    media = settings.library_dir / "campaigns/summer/beach.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))  # served, not decoded
    for asset_id, asset_vectors in vectors.items():
        current = store.read(asset_id)
        assert store.replace(current.asset, current.version, asset_vectors)
    poster = settings.thumbnail_path("a1")
    poster.parent.mkdir(parents=True, exist_ok=True)
    poster.write_bytes(jpeg_bytes())
    run_id, _ = claim_run(settings)
    record = TrainingRecord(
        run=run_id,
        started="2026-01-01T00:00:00+00:00",
        finished="2026-01-01T00:01:00+00:00",
        state="done",
    )
    save_record(settings, record)
    keys = open_key_store(settings)
    secrets = {role: create_key(keys, f"test-{role.value}", role)[1] for role in Role}
    keys.close()
    queue = JobQueue(settings)
    job = queue.submit("index", {"paths": []}, actor="test")
    queue.close()
    assert job is not None
    encoder = LightQueryEncoder(settings)
    encoder.load()
    return World(settings, store, secrets, job.id, encoder)
