"""An API world for the access and contract tests: a seeded SQLite store, one key per role,
a training run, a poster and a job, so every route has something to answer about."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from catalog.keys import Role, create_key, open_key_store
from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from catalog.training_runs import TrainingRecord, claim_run, save_record
from tests.backends import make_settings
from tests.fixtures import asset, tag

JPEG_HEAD = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # sniffed as a JPEG; a worker would fail it


@dataclass
class World:
    settings: Settings
    store: SqliteStore
    keys: dict[Role, str]  # role -> key
    job_id: str

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"X-API-Key": self.keys[role]}


def jpeg_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def make_world(tmp_path: Path, **overrides) -> World:
    settings = make_settings(tmp_path, library_root=tmp_path / "library", **overrides)
    store = SqliteStore(settings)
    store.upsert_many(
        [
            asset(
                "a1",
                path="campaigns/summer/beach.mp4",
                title="Woman running",
                smart_tags=[tag("running", 0.88, "action", [[0.0, 4.5]]), tag("beach", 0.95)],
                manual_tags=["summer"],
            )
        ]
    )
    media = settings.library_dir / "campaigns/summer/beach.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))  # served, not decoded
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
    return World(settings, store, secrets, job.id)
