"""Reprocessing (`reindex --retag|--full`), curation that survives it, and folder opt-out.

Real ffmpeg on generated media, a tiny real open_clip model, real stores (SQLite; the contract
cases also on osmem).
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog.asset import AssetStatus, MediaType
from catalog.audit import ModerationAction
from catalog.curation import moderate
from catalog.folders import FolderSetting, Toggle
from catalog.stores import open_store
from indexer.engine import TaggingEngine
from indexer.pipeline import IndexRun
from indexer.reprocess import Mode, Reprocess, Selection, SelectionError
from indexer.scan import scan
from query.plan import SearchRequest, build_plan
from query.ranking import explain
from query.service import run_plan, search
from smarttags.cli import cli
from tests.test_batching import CountingEngine
from tests.test_pipeline import _logging_ffmpeg, settings_for

pytest_plugins = ["tests.media", "tests.test_pipeline"]

ACTOR = "user:test"


def _library(root: Path, media_lib, layout: dict[str, str]) -> Path:
    """layout: library-relative path -> media name."""
    for rel, name in layout.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(media_lib[name], target)
    return root


def _index(settings, store, root: Path, **options):
    run = IndexRun(settings, store, TaggingEngine(settings), **options)
    return run.run(scan([root], None, skip=[settings.data_dir]))


def _reprocess(settings, store, mode: Mode, selection: Selection | None = None):
    return Reprocess(settings, store, TaggingEngine(settings), mode).run(selection or Selection())


def _ranked(store, settings, text: str) -> list[tuple[str, float]]:
    result = search(store, SearchRequest(text, limit=50), settings)
    return [(h["id"], h["score"]) for h in result["hits"]]


@pytest.fixture
def two_photos(tmp_path, media_lib, tiny_model):
    settings = settings_for(tmp_path, tiny_model)
    root = _library(
        tmp_path / "lib", media_lib, {"shoot/astro.jpg": "astronaut", "shoot/clip.mp4": "h264_mp4"}
    )
    store = open_store(settings)
    _index(settings, store, root)
    yield settings, store, root
    store.close()


def _curate(store, asset_id: str) -> dict[str, str]:
    """Remove the strongest machine tag, promote the next, add a manual one."""
    asset = store.get(asset_id)
    removed, promoted = asset.smart_tags[0].tag, asset.smart_tags[1].tag
    moderate(store, asset_id, ModerationAction.remove, removed, ACTOR, 5)
    moderate(store, asset_id, ModerationAction.promote, promoted, ACTOR, 5)
    moderate(store, asset_id, ModerationAction.add, "hero shot", ACTOR, 5)
    return {"removed": removed, "promoted": promoted, "manual": "hero shot"}


@pytest.mark.parametrize("mode", [Mode.retag, Mode.full])
def test_moderation_survives_reprocessing(two_photos, mode):
    settings, store, _ = two_photos
    photo = next(a for a in store.iter_assets() if a.media_type is MediaType.image)
    curated = _curate(store, photo.id)
    summary = _reprocess(settings, store, mode)
    assert summary.tagged == 2 and not summary.failed
    assert summary.from_cache == (2 if mode is Mode.retag else 0)
    after = store.get(photo.id)
    assert after.removed_tags == [curated["removed"]]
    assert after.promoted_tags == [curated["promoted"]]
    assert after.manual_tags == [curated["manual"]]
    assert curated["removed"] in {t.tag for t in after.smart_tags}  # machine tag still computed
    assert len(store.audit_log(photo.id)) == 3


def test_retag_reads_no_media_and_full_decodes_again(tmp_path, media_lib, tiny_model):
    wrapper, log = _logging_ffmpeg(tmp_path)
    settings = settings_for(tmp_path, tiny_model, ffmpeg_binary=str(wrapper))
    root = _library(tmp_path / "lib", media_lib, {"a/clip.mp4": "h264_mp4", "a/b.png": "png"})
    store = open_store(settings)
    _index(settings, store, root)
    log.write_text("")
    assert _reprocess(settings, store, Mode.retag).from_cache == 2
    assert log.read_text() == ""  # not even a probe
    _reprocess(settings, store, Mode.full)
    assert "rawvideo" in log.read_text()
    store.close()


def test_retag_applies_a_new_storage_floor(two_photos, tiny_model, tmp_path):
    settings, store, _ = two_photos
    before = {a.id: len(a.smart_tags) for a in store.iter_assets()}
    looser = settings.model_copy(update={"tag_storage_floor": 0.05})
    _reprocess(looser, store, Mode.retag)
    after = {a.id: len(a.smart_tags) for a in store.iter_assets()}
    assert all(after[i] >= before[i] for i in before)
    assert sum(after.values()) > sum(before.values())


def _matched_by(store, settings, text: str, asset_id: str) -> set[str]:
    """The tags through which `asset_id` matches `text` (empty: it is no hit)."""
    hits = search(store, SearchRequest(text, limit=50), settings)["hits"]
    return {m["tag"] for h in hits if h["id"] == asset_id for m in h["matched"]["tags"]}


def test_a_threshold_change_alters_search_without_any_processing(
    tmp_path, media_lib, tiny_model
):
    wrapper, log = _logging_ffmpeg(tmp_path)
    strict = {"min_object_confidence": 0.999, "min_action_confidence": 0.999}
    settings = settings_for(tmp_path, tiny_model, ffmpeg_binary=str(wrapper), **strict)
    root = _library(tmp_path / "lib", media_lib, {"a/clip.mp4": "h264_mp4", "a/b.png": "png"})
    store = open_store(settings)
    _index(settings, store, root)
    photo = next(a for a in store.iter_assets() if a.media_type is MediaType.image)
    candidate = next(t for t in photo.smart_tags if t.confidence < 0.999)  # stored, suggested
    assert candidate.confidence >= settings.tag_storage_floor
    assert candidate.tag not in _matched_by(store, settings, candidate.tag, photo.id)

    lowered = settings.model_copy(
        update={"min_object_confidence": 0.3, "min_action_confidence": 0.3}
    )
    assert candidate.tag in _matched_by(store, lowered, candidate.tag, photo.id)

    log.write_text("")
    engine = CountingEngine(lowered)
    summary = IndexRun(lowered, store, engine).run(scan([root], None, skip=[lowered.data_dir]))
    assert (summary.unchanged, summary.tagged) == (2, 0)
    assert engine.batches == [] and log.read_text() == ""  # no encoder, no ffmpeg
    store.close()


def test_selection_by_asset_folder_and_path(two_photos):
    settings, store, root = two_photos
    photo = next(a for a in store.iter_assets() if a.media_type is MediaType.image)
    assert _reprocess(settings, store, Mode.retag, Selection(asset_ids=[photo.id])).tagged == 1
    assert _reprocess(settings, store, Mode.retag, Selection(folder="shoot")).tagged == 2
    assert _reprocess(settings, store, Mode.retag, Selection(folder="elsewhere")).tagged == 0
    by_path = Selection(paths=[root / "shoot" / "astro.jpg"], library_root=root)
    assert _reprocess(settings, store, Mode.retag, by_path).tagged == 1
    with pytest.raises(SelectionError, match="no asset"):
        _reprocess(settings, store, Mode.retag, Selection(asset_ids=["nope"]))


def test_full_reprocess_of_a_vanished_file_fails_and_keeps_the_record(two_photos):
    settings, store, root = two_photos
    photo = next(a for a in store.iter_assets() if a.media_type is MediaType.image)
    (root / photo.path).unlink()
    summary = _reprocess(settings, store, Mode.full)
    assert (
        summary.failed["missing_file"]
        if "missing_file" in summary.failed
        else any(r.startswith("missing_file") for r in summary.failed)
    )
    assert store.get(photo.id).smart_tags == photo.smart_tags


def test_moderation_during_a_reprocess_is_not_lost(two_photos):
    settings, store, _ = two_photos
    ids = [a.id for a in store.iter_assets()]
    stop = threading.Event()
    added: list[str] = []

    def curate() -> None:
        n = 0
        while not stop.is_set():
            for asset_id in ids:
                moderate(store, asset_id, ModerationAction.add, f"label {n}", ACTOR, 50)
            added.append(f"label {n}")
            n += 1

    worker = threading.Thread(target=curate)
    worker.start()
    try:
        for _ in range(3):
            _reprocess(settings, store, Mode.retag)
    finally:
        stop.set()
        worker.join()
    for asset_id in ids:
        assert set(added) <= set(store.get(asset_id).manual_tags)


# the ranking contract after reprocessing, on every backend
def test_contract_holds_for_curated_tags_after_reprocessing(
    make_store, tmp_path, media_lib, tiny_model
):
    probe_settings = settings_for(tmp_path, tiny_model)
    media = ("model", "pretrained", "inference_runtime", "encode_batch_size", "use_ffprobe")
    media += ("min_object_confidence", "min_action_confidence")
    store = make_store(**probe_settings.model_dump(include=set(media)))
    settings = store.settings
    root = _library(tmp_path / "lib", media_lib, {"p/astro.jpg": "astronaut", "p/c.png": "png"})
    _index(settings, store, root)
    photo = next(a for a in store.iter_assets() if a.path == "p/astro.jpg")
    curated = _curate(store, photo.id)
    for mode in (Mode.retag, Mode.full):
        _reprocess(settings, store, mode)
        for text, present in (
            (curated["removed"], False),
            (curated["promoted"], True),
            ("hero shot", True),
        ):
            plan = build_plan(SearchRequest(text, limit=50), settings)
            page = run_plan(store, plan)
            hits = {h.asset.id: h for h in page.hits}
            assert (photo.id in hits) is present or text != curated["removed"], text
            for hit in page.hits:
                assert hit.score == explain(hit.asset, plan, settings.weight_quantum).score
            if present:
                match = explain(hits[photo.id].asset, plan, settings.weight_quantum)
                sources = {m.source for m in match.tags}
                assert sources & {"promoted", "manual"}, (text, sources)
        top = run_plan(store, build_plan(SearchRequest(curated["promoted"]), settings)).hits[0]
        assert top.asset.id == photo.id  # the promote boost outranks any machine tag


# folders
def _folder(store, folder: str, **values) -> None:
    store.save_folder_setting(FolderSetting(folder=folder, **values))


def test_disabled_folder_is_catalogued_without_smart_tags(tmp_path, media_lib, tiny_model):
    settings = settings_for(tmp_path, tiny_model)
    root = _library(
        tmp_path / "lib",
        media_lib,
        {"brand/off/clip.mp4": "h264_mp4", "brand/off/photo.jpg": "astronaut"},
    )
    store = open_store(settings)
    _folder(store, "brand/off", video=Toggle.disable)
    summary = _index(settings, store, root)
    assert (summary.catalogued, summary.tagged) == (1, 1)
    clip = store.get(next(a.id for a in store.iter_assets() if a.media_type is MediaType.video))
    assert clip.status is AssetStatus.catalogued and clip.smart_tags == []
    assert "disabled for videos" in clip.status_reason and "brand/off" in clip.status_reason
    assert clip.duration_s and settings.thumbnail_path(clip.id).is_file()
    assert _index(settings, store, root).unchanged == 2  # unchanged while still disabled

    _folder(store, "brand/off", video=Toggle.inherit)  # re-enable: the next run tags it
    assert _index(settings, store, root).tagged == 1
    assert store.get(clip.id).status is AssetStatus.tagged and store.get(clip.id).smart_tags

    _folder(store, "brand", video=Toggle.disable, image=Toggle.disable)  # parent opts out
    summary = _reprocess(settings, store, Mode.retag)
    assert summary.catalogued == 2
    assert all(not a.smart_tags for a in store.iter_assets())
    store.close()


def test_an_asset_moved_into_a_disabled_folder_follows_its_new_folder(
    tmp_path, media_lib, tiny_model
):
    settings = settings_for(tmp_path, tiny_model)
    root = _library(tmp_path / "lib", media_lib, {"open/photo.jpg": "astronaut"})
    store = open_store(settings)
    _folder(store, "closed/deep", image=Toggle.disable)
    _index(settings, store, root)
    asset = next(store.iter_assets())
    moved = root / "closed" / "deep" / "er" / "photo.jpg"
    moved.parent.mkdir(parents=True)
    (root / asset.path).rename(moved)
    store.upsert_many(
        [
            asset.model_copy(
                update={
                    "path": "closed/deep/er/photo.jpg",
                    "folder": "closed/deep/er",
                    "file_name": "photo.jpg",
                }
            )
        ]
    )
    summary = _reprocess(settings, store, Mode.retag, Selection(asset_ids=[asset.id]))
    assert summary.catalogued == 1
    after = store.get(asset.id)
    assert after.status is AssetStatus.catalogued and "closed/deep" in after.status_reason
    store.close()


# CLI and HTTP
def _cli_env(settings) -> dict[str, str]:
    names = ("model", "pretrained", "inference_runtime", "use_ffprobe", "min_object_confidence")
    return {f"SMARTTAGS_{n.upper()}": str(getattr(settings, n)) for n in names}


def test_reindex_cli_retag_and_rebuild(two_photos):
    settings, _, _ = two_photos
    runner = CliRunner()
    env = _cli_env(settings)
    data = ["--data-dir", str(settings.data_dir)]
    done = runner.invoke(cli, [*data, "reindex", "--retag", "--json"], env=env)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["tagged"], result["from_cache"]) == (2, 2)
    bad = runner.invoke(cli, [*data, "reindex", "--asset", "nope"], env=env)
    assert bad.exit_code == 2 and "no asset" in bad.output
    both = runner.invoke(cli, [*data, "reindex", "--folder", "a", "--asset", "b"], env=env)
    assert both.exit_code == 2
    rebuilt = runner.invoke(cli, [*data, "reindex", "--rebuild-index", "--json"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    report = json.loads(rebuilt.stdout.strip().splitlines()[-1])
    assert report["documents"] == 2 and report["backup"]
    found = runner.invoke(cli, [*data, "search", "astro", "--json"], env=env)
    assert json.loads(found.stdout)["total"]["value"] >= 1


def test_reprocess_over_http_is_a_job(two_photos):
    from fastapi.testclient import TestClient

    from query.api import create_app
    from tests.workers import wait_for_job_http, worker_thread

    settings, store, _ = two_photos
    with worker_thread(settings), TestClient(create_app(settings, store)) as client:
        started = client.post("/reprocess", json={"mode": "retag", "folder": "shoot"})
        assert started.status_code == 202, started.text
        job = wait_for_job_http(client, started.json()["job_id"], 60)
        assert job["state"] == "done", job
        assert job["summary"]["from_cache"] == 2 and job["done"] == job["total"] == 2
        assert client.post("/reprocess", json={"asset_ids": ["nope"]}).status_code == 404
        assert client.post("/reprocess", json={"mode": "sideways"}).status_code == 422


def test_catalog_only_assets_are_skipped_by_retag_and_fail_a_full_run(two_photos):
    from tests.fixtures import asset

    settings, store, _ = two_photos
    store.upsert_many([asset("imported", path="shoot/never-indexed.jpg")])
    retag = _reprocess(settings, store, Mode.retag)
    assert (retag.tagged, dict(retag.skipped), dict(retag.failed)) == (
        2,
        {"no_media_file": 1},
        {},
    )
    full = _reprocess(settings, store, Mode.full)
    assert dict(full.failed) == {"missing_file": 1} and full.tagged == 2
    assert store.get("imported").status is AssetStatus.catalogued  # the record is untouched
