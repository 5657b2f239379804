"""No per-asset overhead: frames of many assets share encoder batches, writes go in batches
and keep the moderation overlay, the first run reports its preparation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from catalog.asset import Asset
from catalog.audit import TagState
from catalog.curation import save_processed_many, update_asset, with_state
from catalog.sqlite_store import SqliteStore
from catalog.store import BackendUnavailable
from indexer.engine import TaggingEngine
from indexer.pipeline import IndexRun
from indexer.scan import scan
from tests.media import photo
from tests.tiny_model import tiny_settings


class CountingEngine(TaggingEngine):
    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.batches: list[int] = []

    def encode(self, frames):
        self.batches.append(len(frames))
        return super().encode(frames)


class CountingStore(SqliteStore):
    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.batch_writes: list[int] = []
        self.single_writes = 0

    def replace_many(self, writes, vectors=None):
        self.batch_writes.append(len(writes))
        return super().replace_many(writes, vectors)

    def replace(self, asset, expected, vectors=None):
        self.single_writes += 1
        return super().replace(asset, expected, vectors)


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    for index, name in enumerate(("astronaut", "coffee", "chelsea", "rocket", "camera") * 2):
        picture = photo(name).convert("RGB").resize((96 + index, 80))
        picture.save(root / f"{index:02d}-{name}.jpg", quality=90)
    return root


def test_frames_of_many_images_share_batches_and_writes_are_batched(tmp_path, photos):
    settings = tiny_settings(tmp_path, encode_batch_size=4, decode_workers=1, prefetch_assets=16)
    engine = CountingEngine(settings)
    store = CountingStore(settings)
    summary = IndexRun(settings, store, engine).run(scan([photos], None))
    assert summary.tagged == 10
    assert sum(engine.batches) == 10 and max(engine.batches) > 1  # not one encode per image
    assert store.single_writes == 0 and sum(store.batch_writes) == 10
    assert len(store.batch_writes) < 10
    assert all(
        (settings.data_dir / "thumbnails" / f"{a.id}.jpg").is_file() for a in store.iter_assets()
    )
    store.close()


def test_batched_embeddings_equal_one_by_one(tmp_path, photos):
    together = tiny_settings(tmp_path / "a", encode_batch_size=8)
    alone = tiny_settings(tmp_path / "b", encode_batch_size=1, decode_workers=1)
    tags = []
    for settings in (together, alone):
        store = SqliteStore(settings)
        IndexRun(settings, store, TaggingEngine(settings)).run(scan([photos], None))
        assets = store.iter_assets()
        tags.append({a.path: {t.tag: t.confidence for t in a.smart_tags} for a in assets})
        store.close()
    # float32 sums in another batch order: the same candidates, confidences alike to 1e-4
    assert tags[0].keys() == tags[1].keys()
    for path, together_tags in tags[0].items():
        assert together_tags.keys() == tags[1][path].keys()
        for name, confidence in together_tags.items():
            assert confidence == pytest.approx(tags[1][path][name], abs=1e-4)


def test_batched_write_keeps_a_moderation_that_lands_between_read_and_write(tmp_path):
    settings = tiny_settings(tmp_path)
    store = SqliteStore(settings)
    first = _asset("a1")
    store.upsert_many([first, _asset("a2")])
    real_read_many = store.read_many

    def read_then_moderate(ids):
        found = real_read_many(ids)
        if not getattr(store, "_moderated", False):
            store._moderated = True  # another writer removes a tag of a1 meanwhile
            update_asset(store, "a1", lambda a: with_state(a, "dog", TagState.removed), 3)
        return found

    store.read_many = read_then_moderate
    processed = [
        (first.model_copy(update={"title": "new title"}), True),
        (_asset("a2", title="t2"), True),
    ]
    save_processed_many(store, processed, retries=3)
    assert store.get("a1").removed_tags == ["dog"] and store.get("a1").title == "new title"
    assert store.get("a2").title == "t2"
    store.close()


def _asset(asset_id: str, **fields) -> Asset:
    return Asset.model_validate(
        {"id": asset_id, "path": f"x/{asset_id}.jpg", "media_type": "image", **fields}
    )


def test_vocabulary_embedding_reports_progress(tmp_path):
    settings = tiny_settings(tmp_path, text_batch_size=64)
    seen: list[tuple[str, int, int]] = []
    TaggingEngine(settings).prepare(lambda what, done, total: seen.append((what, done, total)))
    vocab = [s for s in seen if s[0].startswith("embedding the")]
    assert {s[0] for s in vocab} == {
        "embedding the object vocabulary",
        "embedding the action vocabulary",
    }
    for label in {s[0] for s in vocab}:
        counts = [done for what, done, _ in vocab if what == label]
        total = next(t for what, _, t in vocab if what == label)
        assert counts == sorted(counts) and counts[-1] == total and len(counts) > 2
    assert np.all([t > 0 for _, _, t in vocab])


class FailingStore(SqliteStore):
    """The backend goes away when the run writes its last batch (an injected outage)."""

    def replace_many(self, writes, vectors=None):
        raise BackendUnavailable("the backend went away")


def test_a_failed_last_write_ends_the_run_with_the_error_not_a_hang(tmp_path, photos):
    settings = tiny_settings(tmp_path, write_batch_assets=64, write_batch_s=60.0)
    store = FailingStore(settings)
    outcome: dict = {}

    def index() -> None:
        try:
            IndexRun(settings, store, TaggingEngine(settings)).run(scan([photos], None))
        except BackendUnavailable as exc:
            outcome["error"] = exc

    runner = threading.Thread(target=index, daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "the run hung after its last write failed"
    assert "went away" in str(outcome["error"])
