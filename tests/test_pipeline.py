"""The ingest pipeline end to end: real ffmpeg on generated media, a tiny real open_clip model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog.asset import AssetStatus, TagKind
from catalog.sqlite_store import SqliteStore
from indexer.engine import TaggingEngine
from indexer.ffmpeg_tools import find_ffmpeg
from indexer.pipeline import IndexRun
from indexer.scan import scan
from query.plan import SearchRequest
from query.service import search
from tests.media import MediaLibrary
from tests.tiny_model import write_tiny_model

pytest_plugins = ["tests.media"]

LOW = {"min_object_confidence": 0.3, "min_action_confidence": 0.3}
GOOD = ["h264_mp4", "scene_cut", "rotated", "vp9_webm", "one_frame", "astronaut", "png"]
BAD = {
    "truncated_mp4": ("failed", "corrupt"),
    "empty": ("failed", "empty_file"),
    "text_as_mp4": ("skipped", "unsupported_format"),
    "audio_mp4": ("skipped", "no_video_stream"),
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def settings_for(tmp_path: Path, tiny_model, **overrides):
    from tests.media import media_settings

    config, checkpoint = tiny_model
    return media_settings(
        tmp_path / "data",
        model=str(config),
        pretrained=str(checkpoint),
        inference_runtime="torch",
        inference_precision="fp32",
        encode_batch_size=8,
        **{**LOW, **overrides},
    )


def build_library(root: Path, media: MediaLibrary, names) -> Path:
    for name in names:
        source = media[name]
        folder = root / (
            "bad"
            if name in BAD
            else "clips"
            if source.suffix in {".mp4", ".webm", ".mkv", ".mov", ".avi"}
            else "photos"
        )
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / f"{name}{source.suffix}")
    return root


def index(settings, root: Path, reprocess: bool = False):
    store = SqliteStore(settings)
    try:
        summary = IndexRun(settings, store, TaggingEngine(settings), reprocess).run(
            scan([root], None, skip=[settings.data_dir])
        )
        return summary, {a.path: a for a in store.iter_assets()}
    finally:
        store.close()


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, media_lib, tiny_model):
    tmp = tmp_path_factory.mktemp("indexed")
    settings = settings_for(tmp, tiny_model)
    root = build_library(tmp / "lib", media_lib, [*GOOD, *BAD])
    summary, assets = index(settings, root)
    return settings, root, summary, assets


def test_summary_counts_every_file_by_outcome_and_reason(indexed):
    _, _, summary, _ = indexed
    assert summary.tagged == len(GOOD)
    assert dict(summary.failed) == {"corrupt": 1, "empty_file": 1}
    assert dict(summary.skipped) == {"unsupported_format": 1, "no_video_stream": 1}


def test_bad_files_are_recorded_with_their_reason(indexed):
    _, _, _, assets = indexed
    for name, (status, reason) in BAD.items():
        asset = next(a for p, a in assets.items() if Path(p).stem == name)
        assert (asset.status.value, asset.status_reason.split(":")[0]) == (status, reason)
        assert asset.smart_tags == []


def test_tags_have_kinds_confidences_order_and_thresholds(indexed):
    settings, _, _, assets = indexed
    tagged = [a for a in assets.values() if a.status is AssetStatus.tagged]
    assert len(tagged) == len(GOOD)
    kinds = set()
    for asset in tagged:
        assert asset.smart_tags, asset.path
        confidences = [t.confidence for t in asset.smart_tags]
        assert confidences == sorted(confidences, reverse=True)
        assert len(asset.smart_tags) <= settings.max_tags_per_asset
        for tag in asset.smart_tags:
            assert 0.0 <= tag.confidence <= 1.0
            assert tag.confidence >= settings.threshold(tag.kind.value)
            kinds.add(tag.kind)
    assert kinds == {TagKind.object, TagKind.action}


def test_video_segments_lie_inside_the_duration(indexed):
    _, _, _, assets = indexed
    videos = [a for a in assets.values() if a.status is AssetStatus.tagged and a.duration_s]
    assert videos
    for asset in videos:
        for tag in asset.smart_tags:
            assert tag.segments, (asset.path, tag.tag)
            for start, end in tag.segments:
                assert 0.0 <= start <= end <= asset.duration_s + 1e-6


def test_technical_metadata_and_posters(indexed):
    settings, _, _, assets = indexed
    rotated = next(a for p, a in assets.items() if "rotated" in p)
    assert rotated.codec == "h264" and rotated.height > rotated.width  # displayed upright
    photo = next(a for p, a in assets.items() if "astronaut" in p)
    assert photo.media_type.value == "image" and photo.format == "jpeg"
    for asset in assets.values():
        poster = settings.thumbnail_path(asset.id)
        assert poster.is_file() == (asset.status is AssetStatus.tagged), asset.path


def test_indexed_assets_are_found_through_the_ranking_contract(indexed):
    settings, _, _, assets = indexed
    store = SqliteStore(settings)
    try:
        target = next(a for a in assets.values() if a.status is AssetStatus.tagged)
        top = target.smart_tags[0]
        result = search(store, SearchRequest(top.tag, limit=50), settings)
        hit = next(h for h in result["hits"] if h["id"] == target.id)
        assert hit["tier"] in (1, 2)
        assert any(m["tag"] == top.tag for m in hit["matched"]["tags"])
    finally:
        store.close()


def _logging_ffmpeg(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "ffmpeg.log"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {find_ffmpeg(None)} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def test_incremental_reprocess_and_the_embedding_cache(tmp_path, media_lib, tiny_model):
    wrapper, log = _logging_ffmpeg(tmp_path)
    settings = settings_for(tmp_path, tiny_model, ffmpeg_binary=str(wrapper))
    root = build_library(tmp_path / "lib", media_lib, ["h264_mp4", "png"])
    first, assets = index(settings, root)
    assert first.tagged == 2 and "rawvideo" in log.read_text()

    log.write_text("")
    again, _ = index(settings, root)
    assert (again.tagged, again.unchanged) == (0, 2)
    assert log.read_text() == ""  # nothing probed or decoded

    redo, redone = index(settings, root, reprocess=True)
    assert redo.tagged == 2
    assert "rawvideo" not in log.read_text()  # re-tagged from cached embeddings
    for path, asset in redone.items():
        assert asset.smart_tags == assets[path].smart_tags
        assert asset.created_at == assets[path].created_at


def test_changed_file_is_processed_again(tmp_path, media_lib, tiny_model):
    settings = settings_for(tmp_path, tiny_model)
    root = build_library(tmp_path / "lib", media_lib, ["png"])
    index(settings, root)
    photo = next((root / "photos").iterdir())
    shutil.copy(media_lib["astronaut"], photo)
    summary, _ = index(settings, root)
    assert summary.tagged == 1


def test_curation_survives_reprocessing(tmp_path, media_lib, tiny_model):
    settings = settings_for(tmp_path, tiny_model)
    root = build_library(tmp_path / "lib", media_lib, ["astronaut"])
    _, assets = index(settings, root)
    asset = next(iter(assets.values()))
    removed = asset.smart_tags[0].tag
    store = SqliteStore(settings)
    store.upsert_many(
        [
            asset.model_copy(
                update={
                    "manual_tags": ["hero shot"],
                    "removed_tags": [removed],
                    "title": "Our astronaut",
                }
            )
        ]
    )
    store.close()
    _, after = index(settings, root, reprocess=True)
    kept = after[asset.path]
    assert kept.manual_tags == ["hero shot"] and kept.removed_tags == [removed]
    assert kept.title == "Our astronaut"


def test_oversize_and_non_utf8_names(tmp_path, media_lib, tiny_model):
    settings = settings_for(tmp_path, tiny_model, max_file_mb=0.001)
    root = tmp_path / "lib"
    root.mkdir()
    shutil.copy(media_lib["astronaut"], root / "big.jpg")
    odd = media_lib["non_utf8"]
    shutil.copy(odd, os.fsencode(root) + b"/" + os.path.basename(os.fsencode(odd)))
    summary, assets = index(settings, root)
    assert summary.skipped["too_large"] == 2
    assert any("caf%E9-%FF" in path for path in assets)  # undecodable bytes stay visible


def test_a_killed_run_resumes_without_duplicates(tmp_path, media_lib, tiny_model):
    # writes in batches of two, so that the kill can land between two batches
    settings = settings_for(tmp_path, tiny_model, write_batch_assets=2)
    root = build_library(
        tmp_path / "lib",
        media_lib,
        ["h264_mp4", "scene_cut", "vp9_webm", "rotated", "png", "astronaut"],
    )
    env = {**os.environ, **settings_env(settings)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smarttags.cli", "index", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if settings.sqlite_path.exists() and _count(settings) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _count(settings)
    assert 1 <= done_before < 6, "the kill should land mid-run"
    summary, assets = index(settings, root)
    assert summary.unchanged == done_before
    assert summary.tagged == 6 - done_before
    assert len(assets) == 6 and all(a.status is AssetStatus.tagged for a in assets.values())


def settings_env(settings) -> dict[str, str]:
    """The same settings for a child process, as SMARTTAGS_* variables."""
    env = {}
    for name, value in settings.model_dump(mode="json", exclude_defaults=True).items():
        text = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
        env[f"SMARTTAGS_{name.upper()}"] = text
    return env


def _count(settings) -> int:
    store = SqliteStore(settings)
    try:
        return store.count()
    finally:
        store.close()
