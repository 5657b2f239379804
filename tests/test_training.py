"""Custom tags end to end: train from manual tags, report, autotag, search, re-tag rules.

Learnable data without real weights: families of generated images (tests/image_families.py)
embedded by a tiny random open_clip model. Curated assets are registered without embeddings
(training reads and encodes them once); incoming assets go through the real index pipeline.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from PIL import Image

from catalog.asset import Asset, AssetStatus, MediaType, TagKind
from catalog.curation import update_asset
from catalog.effective import quantize
from catalog.folders import FolderSetting, Toggle
from catalog.jobs import JobState, change
from catalog.queue import JobQueue, cron_due, next_run
from catalog.store import AssetStore
from catalog.stores import LazyStore, open_store
from catalog.training_runs import TagStatus, latest_run, list_runs
from indexer.autotag import NoTrainedModel, autotag, is_due, list_autotag_runs
from indexer.custom_model import best_f1_threshold
from indexer.custom_tags import CustomTagger, to_confidence, unit_rows
from indexer.embedding_cache import content_hash
from indexer.engine import TaggingEngine
from indexer.pipeline import IndexRun
from indexer.scan import scan
from indexer.training import Examples, train, train_tag
from query.api import create_app
from query.plan import SearchRequest
from query.service import search
from smarttags.cli_support import AppContext
from smarttags.cli_training import autotag_cmd, train_cmd, train_report_cmd
from smarttags.worker import build_queue
from tests.image_families import write_family
from tests.tiny_model import tiny_settings
from tests.workers import wait_for_job_http, worker_thread

RED, BLUE = "red circle", "blue stripes"
LARGE_RED = 6  # of the 40 red circles, this many are 560 px: not small
PROMOTED_RED = 5  # of the 40, this many carry the tag as promoted rather than manual
OTHERS = ["checkerboard", "green_noise", "coffee", "astronaut", "chelsea"]
INCOMING = {"red_circles": 8, "checkerboard": 4, "coffee": 4}
T0 = datetime(2025, 1, 3, 12, 0, tzinfo=UTC)


class CountingEngine(TaggingEngine):
    encoded = 0

    def encode(self, frames):
        CountingEngine.encoded += len(frames)
        return super().encode(frames)


@dataclass
class World:
    settings: object
    root: Path
    store: AssetStore
    curated: int  # readable curated assets in scope
    records: list = field(default_factory=list)  # the two training runs of the fixture
    encodes: list = field(default_factory=list)  # frames encoded by each run


def _register(
    store: AssetStore,
    settings,
    root: Path,
    paths: list[Path],
    tag: str | None = None,
    promoted: int = 0,
) -> None:
    """Assets as if indexed once (content hash, size), without cached embeddings; the first
    `promoted` carry `tag` as a promoted tag, the rest as a manual tag."""
    assets = []
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            width, height = img.size
        assets.append(
            Asset(
                path=path.relative_to(root).as_posix(),
                media_type=MediaType.image,
                width=width,
                height=height,
                status=AssetStatus.tagged,
                content_hash=content_hash(path, settings),
                library_root=str(root),
                manual_tags=[tag] if tag and i >= promoted else [],
                promoted_tags=[tag] if tag and i < promoted else [],
            )
        )
    store.upsert_many(assets)


def _build_library(settings, store: AssetStore, root: Path) -> int:
    curated = root / "curated"
    reds = write_family(curated / "red", "red_circles", 40, seed=1, large=LARGE_RED)
    _register(store, settings, root, reds, tag=RED, promoted=PROMOTED_RED)
    _register(
        store, settings, root, write_family(curated / "blue", "blue_stripes", 10, 2), tag=BLUE
    )
    for n, family in enumerate(OTHERS):
        _register(store, settings, root, write_family(curated / family, family, 16, 10 + n))
    private = write_family(curated / "private", "red_circles", 4, seed=3)
    _register(store, settings, root, private, tag=RED)
    store.save_folder_setting(FolderSetting(folder="curated/private", image=Toggle.disable))
    store.upsert_many(  # indexed once, its file gone since, never embedded: an error
        [
            Asset(
                path="curated/missing.png",
                media_type=MediaType.image,
                content_hash="0" * 64,
                library_root=str(root),
            )
        ]
    )
    for n, (family, count) in enumerate(INCOMING.items()):
        write_family(root / "incoming" / family, family, count, seed=20 + n)
    tasks = scan([root / "incoming"], root, skip=[settings.data_dir])
    summary = IndexRun(settings, store, TaggingEngine(settings)).run(tasks)
    assert summary.tagged == sum(INCOMING.values()), summary.to_dict()
    return 40 + 10 + 16 * len(OTHERS)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("training")
    settings = tiny_settings(tmp, backend="sqlite", library_root=tmp / "lib")
    store = open_store(settings)
    curated = _build_library(settings, store, tmp / "lib")
    world = World(settings, tmp / "lib", store, curated)
    for _ in range(2):
        before = CountingEngine.encoded
        world.records.append(train(settings, store, CountingEngine(settings), folder="curated"))
        world.encodes.append(CountingEngine.encoded - before)
    yield world
    store.close()


def _row(record, tag):
    return next(r for r in record.tags if r.tag == tag)


# --- training and its report -----------------------------------------------------------


def test_a_tag_with_40_examples_of_a_distinct_family_is_trained(world):
    row = _row(world.records[0], RED)
    assert (row.positives, row.negatives) == (40, world.curated - 40)
    assert row.f1 >= 0.9 and row.precision >= 0.9 and row.recall >= 0.9
    assert row.status == TagStatus.trained
    assert 0.0 < row.threshold < 1.0
    assert 0.0 < row.coherence <= 1.0


def test_a_tag_with_10_examples_needs_more(world):
    row = _row(world.records[0], BLUE)
    assert row.positives == 10
    assert row.status == TagStatus.needs_more
    assert row.f1 is not None  # still evaluated, so the user sees how promising it is


def test_small_images_are_counted(world):
    assert _row(world.records[0], RED).small_images == 40 - LARGE_RED
    assert _row(world.records[0], BLUE).small_images == 10


def test_the_run_is_recorded_with_scope_counts_and_errors(world):
    first = world.records[0]
    assert first.state == "done" and first.started <= first.finished
    assert first.folder == "curated" and first.model_id
    assert first.counts["assets"] == world.curated + 1  # + the missing file
    assert first.counts["skipped"] == 4  # smart tags disabled in curated/private
    assert first.counts["trained"] == 1
    assert [e["path"] for e in first.errors] == ["curated/missing.png"]
    assert [r.run for r in list_runs(world.settings)][:2] == [first.run, world.records[1].run]


def test_a_second_run_embeds_nothing_new(world):
    first, second = world.records
    assert first.counts["embedded"] == world.curated and world.encodes[0] == world.curated
    assert second.counts["embedded"] == 0 and world.encodes[1] == 0
    assert second.counts["cached"] == world.curated
    assert _row(second, RED).f1 == _row(first, RED).f1  # same data, same folds


def test_coherence_is_higher_for_a_uniform_family(world):
    red = _row(world.records[0], RED).coherence
    assert red > _mixed_coherence(world) + 0.3


def _mixed_coherence(world) -> float:
    from indexer.custom_model import coherence
    from indexer.custom_tags import asset_feature

    engine = TaggingEngine(world.settings)
    features = [
        asset_feature(engine.cached_embeddings(a.content_hash)[0])
        for a in world.store.iter_assets("curated")
        if a.content_hash and engine.cached_embeddings(a.content_hash) is not None
    ]
    scope = np.stack(features)
    return coherence(scope[::2], scope)  # every other asset of the scope: many families


# --- tagging and search ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tagged(world):
    engine = TaggingEngine(world.settings)
    record = autotag(world.settings, world.store, engine, now=lambda: T0)
    return record, {a.path: a for a in world.store.iter_assets()}


def _custom(asset: Asset) -> dict[str, float]:
    return {t.tag: t.confidence for t in asset.smart_tags if t.kind is TagKind.custom}


def test_autotag_applies_trained_tags_only(tagged, world):
    record, assets = tagged
    in_scope = world.curated + 1 + sum(INCOMING.values())
    assert record.tagged == in_scope - 1 and len(record.errors) == 1
    assert record.skipped == 4 and record.unchanged == 0
    assert record.training_run == latest_run(world.settings).run
    incoming_reds = [a for p, a in assets.items() if p.startswith("incoming/red_circles")]
    assert all(
        _custom(a).get(RED, 0) >= world.settings.min_custom_confidence for a in incoming_reds
    )
    others = [a for p, a in assets.items() if p.startswith("incoming/") and "red" not in p]
    assert all(_custom(a).get(RED, 0) < world.settings.min_custom_confidence for a in others)
    assert not any(BLUE in _custom(a) for a in assets.values())  # not trained: never applied
    assert all(not _custom(a) for p, a in assets.items() if p.startswith("curated/private"))
    kept = next(a for p, a in assets.items() if p.startswith("incoming/coffee"))
    assert any(t.kind is not TagKind.custom for t in kept.smart_tags)  # pipeline tags stay
    assert kept.custom_run == record.training_run and kept.custom_tagged_at == T0


def test_custom_tags_are_found_by_search_with_their_confidences(tagged, world):
    _, assets = tagged
    request = SearchRequest(RED, kinds=(TagKind.custom,), limit=100)
    hits = {h["id"]: h for h in search(world.store, request, world.settings)["hits"]}
    for path, asset in assets.items():
        if not path.startswith("incoming/red_circles"):
            continue
        matched = hits[asset.id]["matched"]["tags"]
        assert hits[asset.id]["tier"] == 2
        weight = quantize(_custom(asset)[RED], world.settings.weight_quantum)
        assert {(m["tag"], m["kind"], m["source"], m["weight"]) for m in matched} == {
            (RED, "custom", "machine", weight)
        }
    strays = [p for p, a in assets.items() if a.id in hits and p.startswith("incoming/")]
    assert all(p.startswith("incoming/red_circles") for p in strays)


def test_confidence_maps_the_threshold_onto_the_search_threshold():
    values = to_confidence(np.array([0.0, 0.2, 0.4, 0.7, 1.0]), np.full(5, 0.4), 0.7)
    assert np.allclose(values, [0.0, 0.35, 0.7, 0.85, 1.0])


def test_video_tags_get_segments_where_frames_hold(world, tagged):
    tagger = CustomTagger.latest(world.settings)
    engine = TaggingEngine(world.settings)
    _, assets = tagged
    red = engine.cached_embeddings(assets["incoming/red_circles/img-000.png"].content_hash)
    other = engine.cached_embeddings(assets["incoming/coffee/img-000.png"].content_hash)
    frames = np.concatenate([other[0], red[0], red[0], red[0], red[0], other[0]])
    tags = tagger.tags(frames, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], MediaType.video, 6.0)
    tag = next(t for t in tags if t.tag == RED)
    assert tag.kind is TagKind.custom
    assert tag.segments == [(0.5, 4.5)]


# --- re-tagging rules with a controllable clock -----------------------------------------


def test_retag_rules(tagged, world):
    settings, store = world.settings, world.store
    engine = TaggingEngine(settings)
    in_scope = world.curated + sum(INCOMING.values())  # readable ones

    def run(hours: float = 0, days: float = 0, scheduled: bool = False):
        when = T0 + timedelta(hours=hours, days=days)
        return autotag(settings, store, engine, scheduled=scheduled, now=lambda: when)

    assert run(hours=23).tagged == 0
    assert run(hours=25).tagged == in_scope  # now tagged at T0 + 25 h
    assert run(days=1 + 150, scheduled=True).tagged == 0  # five months later
    assert run(days=1 + 213, scheduled=True).tagged == in_scope  # seven months later
    # a modified asset is re-tagged at once, embedded anew
    path = world.root / "curated/coffee/img-000.png"
    write_family(path.parent / "new", "red_circles", 1, seed=99)[0].replace(path)
    digest = content_hash(path, settings)
    target = next(a for a in store.iter_assets("curated/coffee") if a.file_name == path.name)
    update_asset(
        store,
        target.id,
        lambda a: a.model_copy(update={"content_hash": digest}),
        settings.write_retries,
    )
    again = run(days=214, hours=1)
    assert (again.tagged, again.embedded) == (1, 1)
    assert again.unchanged == in_scope - 1
    assert RED in _custom(store.get(target.id))  # its new content is a red circle
    assert run(days=214, hours=2, scheduled=False).tagged == 0
    forced = autotag(settings, store, engine, force=True, now=lambda: T0 + timedelta(days=214))
    assert forced.tagged == in_scope
    records = list_autotag_runs(settings)
    assert records[-1]["run"] == forced.run and records[-1]["state"] == "done"
    assert records[-1]["started"] <= records[-1]["finished"]


def test_is_due():
    asset = Asset(
        path="a.png",
        media_type=MediaType.image,
        content_hash="h1",
        custom_content_hash="h1",
        custom_tagged_at=T0,
    )
    day = timedelta(hours=24)
    assert not is_due(asset, T0 + timedelta(hours=23), day)
    assert is_due(asset, T0 + timedelta(hours=25), day)
    assert is_due(asset, T0, day, force=True)
    assert is_due(asset.model_copy(update={"content_hash": "h2"}), T0, day)
    assert is_due(asset.model_copy(update={"custom_tagged_at": None}), T0, day)


def test_autotag_before_any_training_says_what_to_do(tmp_path):
    settings = tiny_settings(tmp_path, backend="sqlite")
    store = open_store(settings)
    try:
        with pytest.raises(NoTrainedModel, match="smarttags train"):
            autotag(settings, store, TaggingEngine(settings))
    finally:
        store.close()


# --- report formats and the CLI --------------------------------------------------------

REPORT_KEYS = {
    "tag",
    "positives",
    "negatives",
    "small_images",
    "precision",
    "recall",
    "f1",
    "threshold",
    "coherence",
    "status",
}


@pytest.fixture
def cli(world):
    settings = world.settings
    overrides = {
        name: getattr(settings, name)
        for name in ("data_dir", "model", "pretrained", "backend", "inference_runtime")
    }
    overrides["inference_threads"] = 1

    def invoke(command, *args: str):
        return CliRunner().invoke(command, list(args), obj=AppContext(overrides))

    return invoke


def test_train_report_json_csv_xlsx_and_table(cli, world, tmp_path):
    latest = latest_run(world.settings)
    report = json.loads(cli(train_report_cmd, "--format", "json").output)
    assert report["run"] == latest.run
    assert [set(row) for row in report["tags"]] == [REPORT_KEYS] * len(latest.tags)
    assert {row["tag"]: row["status"] for row in report["tags"]} == {
        RED: "trained",
        BLUE: "needs more examples",
    }
    rows = list(csv.DictReader(io.StringIO(cli(train_report_cmd, "--format", "csv").output)))
    assert list(rows[0]) == [
        "tag",
        "positives",
        "negatives",
        "small_images",
        "precision",
        "recall",
        "f1",
        "threshold",
        "coherence",
        "status",
    ]
    assert {r["tag"]: int(r["positives"]) for r in rows} == {RED: 40, BLUE: 10}
    target = tmp_path / "report.xlsx"
    assert cli(train_report_cmd, "--format", "xlsx", "-o", str(target)).exit_code == 0
    from openpyxl import load_workbook

    sheet = load_workbook(target)["tags"]
    table = [[c.value for c in row] for row in sheet.iter_rows()]
    assert table[0] == list(rows[0])
    assert {r[0]: r[-1] for r in table[1:]} == {RED: "trained", BLUE: "needs more examples"}
    text = cli(train_report_cmd).output
    assert RED in text and "trained" in text and "f1" in text


def test_train_report_before_any_run(tmp_path):
    overrides = {"data_dir": tmp_path / "empty"}
    result = CliRunner().invoke(train_report_cmd, [], obj=AppContext(overrides))
    assert result.exit_code == 2 and "smarttags train" in result.output


def test_train_and_autotag_commands(cli, world):
    table = cli(train_cmd, "--folder", "curated/red")  # positives only: nothing to learn
    assert table.exit_code == 0 and RED in table.stdout and "not trained" in table.stdout
    result = cli(train_cmd, "--folder", "curated", "--tags", "Red Circle", "--json")
    assert result.exit_code == 1  # the missing file is an error; the report is still there
    report = json.loads(result.stdout)
    assert [row["tag"] for row in report["tags"]] == [RED]
    assert report["tags"][0]["status"] == "trained"
    assert report["counts"]["embedded"] == 0
    tagging = cli(autotag_cmd, "--folder", "incoming", "--json")
    assert tagging.exit_code == 0, tagging.output
    summary = json.loads(tagging.stdout)
    assert summary["tagged"] + summary["unchanged"] == sum(INCOMING.values())
    forced = json.loads(cli(autotag_cmd, "--folder", "incoming", "--force", "--json").stdout)
    assert forced["tagged"] == sum(INCOMING.values())


# --- HTTP ------------------------------------------------------------------------------


def test_http_report_runs_and_jobs(world):
    with (
        worker_thread(world.settings),
        TestClient(create_app(world.settings, world.store)) as client,
    ):
        report = client.get("/training/report").json()
        assert set(report["tags"][0]) == REPORT_KEYS
        runs = client.get("/training/runs").json()["runs"]
        assert runs[0]["run"] == report["run"] and RED in runs[0]["trained_tags"]
        started = client.post("/training", json={"folder": "curated", "tags": [RED]})
        assert started.status_code == 202
        tagging = client.post("/autotag", json={"folder": "incoming", "force": True})
        assert tagging.status_code == 202
        train_job = wait_for_job_http(client, started.json()["job_id"])
        assert train_job["state"] == "done", train_job
        assert train_job["errors"][0]["path"] == "curated/missing.png"
        tag_job = wait_for_job_http(client, tagging.json()["job_id"])
        assert tag_job["state"] == "done" and tag_job["summary"]["tagged"] == sum(INCOMING.values())
        assert client.post("/training", json={"folder": "../x"}).status_code == 422


def test_http_report_before_any_run(tmp_path):
    settings = tiny_settings(tmp_path, backend="sqlite")
    with TestClient(create_app(settings)) as client:
        missing = client.get("/training/report")
        assert missing.status_code == 404 and "POST /training" in missing.json()["detail"]
        assert client.get("/training/runs").json() == {"runs": []}
        assert client.post("/autotag", json={}).status_code == 409


# --- the schedule (Huey periodic tasks of the workers) ---------------------------------


def _utc(local: datetime) -> datetime:
    """A naive local wall-clock time as the UTC moment Huey would pass."""
    return local.astimezone(UTC).replace(tzinfo=None)


def test_cron_entries_are_due_in_local_wall_clock_time():
    saturday = datetime(2025, 1, 4, 0, 30)
    assert cron_due("30 0 * * 6", _utc(saturday))
    assert not cron_due("30 0 * * 6", _utc(saturday + timedelta(minutes=1)))
    assert not cron_due("30 0 * * 6", _utc(saturday + timedelta(days=1)))
    assert next_run("30 0 * * 6", datetime(2025, 3, 29, 12)) == datetime(2025, 4, 5, 0, 30)


def test_workers_register_the_schedule_as_periodic_tasks(tmp_path):
    settings = tiny_settings(tmp_path, backend="sqlite", tagging_cron="15 3 * * *")
    queue = build_queue(settings, LazyStore(settings))
    due_at_tagging = queue.huey.read_periodic(_utc(datetime(2025, 1, 7, 3, 15)))
    assert [t.name for t in due_at_tagging] == ["smarttags.schedule.autotag"]
    due_at_training = queue.huey.read_periodic(_utc(datetime(2025, 1, 4, 0, 30)))
    assert [t.name for t in due_at_training] == ["smarttags.schedule.train"]
    assert queue.huey.read_periodic(_utc(datetime(2025, 1, 7, 3, 16))) == []
    off = build_queue(tiny_settings(tmp_path, schedule_enabled=False), LazyStore(settings))
    assert off.huey.read_periodic(_utc(datetime(2025, 1, 4, 0, 30))) == []


def test_a_scheduled_run_starts_once_however_many_workers_fire(tmp_path):
    settings = tiny_settings(tmp_path, backend="sqlite")
    first, second = JobQueue(settings), JobQueue(settings)
    moment = T0 + timedelta(seconds=7)
    job = first.submit_scheduled("autotag", {"scheduled": True}, moment)
    assert job is not None and job.actor == "schedule"
    assert second.submit_scheduled("autotag", {"scheduled": True}, moment) is None
    # the next day, yesterday's run still queued: no second one piles up
    assert second.submit_scheduled("autotag", {}, moment + timedelta(days=1)) is None
    change(first.jobs, job.id, lambda r: r.model_copy(update={"state": JobState.done}))
    later = second.submit_scheduled("autotag", {}, moment + timedelta(days=1))
    assert later is not None and later.id != job.id
    assert [r.kind for r in first.jobs.list(10)] == ["autotag", "autotag"]


def test_a_bad_cron_expression_is_refused(tmp_path):
    with pytest.raises(ValueError, match="training_cron"):
        tiny_settings(tmp_path, backend="sqlite", training_cron="every saturday")


# --- the classifier on its own ---------------------------------------------------------


def test_best_f1_threshold_cuts_midway_between_accepted_and_rejected():
    scores = np.array([0.9, 0.8, 0.6, 0.3, 0.2])
    labels = np.array([1, 1, 0, 1, 0])
    found = best_f1_threshold(scores, labels)
    assert (found.precision, found.recall) == (0.75, 1.0)
    assert found.threshold == pytest.approx(0.25)


def test_a_tag_without_visual_consistency_is_not_trained(tmp_path):
    settings = tiny_settings(tmp_path, backend="sqlite")
    rng = np.random.default_rng(0)
    count, positives = 120, 40
    assets = [Asset(path=f"a{i}.png", media_type=MediaType.image) for i in range(count)]
    tags = [{"noise"} if i < positives else set() for i in range(count)]
    features = unit_rows(rng.normal(size=(count, 32)))
    row, _ = train_tag("noise", Examples(assets, tags, features), settings)
    assert row.positives == positives and row.f1 < settings.custom_min_f1
    assert row.status == TagStatus.not_trained
    two = [{"rare"} if i < 2 else set() for i in range(count)]
    few, model = train_tag("rare", Examples(assets, two, features), settings)
    assert (few.positives, few.f1, model) == (2, None, None)  # too few to fit at all
    assert few.status == TagStatus.needs_more  # what the user can act on
