"""Search by meaning end to end: real media indexed by the pipeline (real ffmpeg, a tiny real
open_clip model exported to ONNX), queries encoded by the torch-free query encoder, through
the service, the CLI and the HTTP API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from catalog.asset import MediaType
from catalog.sqlite_store import SqliteStore
from indexer.engine import TaggingEngine
from indexer.pipeline import IndexRun
from indexer.query_encoder import LightQueryEncoder
from indexer.reprocess import Mode, Reprocess, Selection
from indexer.scan import scan
from query.api import create_app
from query.plan import SearchMode, SearchRequest
from query.service import by_image, search, similar
from smarttags.cli import cli
from tests.media import SCENE_CUT_S, MediaLibrary, ffmpeg, media_settings
from tests.processes import settings_env
from tests.tiny_model import write_tiny_model

pytest_plugins = ["tests.media"]

PICTURES = ["astronaut", "coffee", "chelsea", "png"]
VIDEOS = ["scene_cut", "h264_mp4"]
FRAME_GAP_S = 0.5  # a frame every half second: a moment is placed within a quarter second


def semantic_settings(data: Path, model: tuple[Path, Path], **overrides):
    config, checkpoint = model
    return media_settings(
        data,
        model=str(config),
        pretrained=str(checkpoint),
        # ONNX fp32: the indexer exports the towers, which the query encoder then loads
        inference_runtime="onnx",
        inference_precision="fp32",
        encode_batch_size=8,
        inference_threads=1,
        max_frame_gap_s=FRAME_GAP_S,
        max_frames_per_s=1 / FRAME_GAP_S,
        # a tiny random model's similarities mean nothing: no floor, so every asset takes part
        semantic_min_confidence=0.0,
        **overrides,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory, media_lib: MediaLibrary):
    tmp = tmp_path_factory.mktemp("semantic")
    settings = semantic_settings(tmp / "data", write_tiny_model(tmp / "model"))
    root = tmp / "lib"
    for name in PICTURES:
        target = root / "photos" / f"{name}{media_lib[name].suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(media_lib[name], target)
    for name in VIDEOS:
        target = root / "clips" / f"{name}{media_lib[name].suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(media_lib[name], target)
    store = SqliteStore(settings)
    summary = IndexRun(settings, store, TaggingEngine(settings)).run(
        scan([root], None, skip=[settings.data_dir])
    )
    assert summary.tagged == len(PICTURES) + len(VIDEOS)
    ids = {Path(a.path).stem: a.id for a in store.iter_assets()}
    yield settings, store, root, ids
    store.close()


@pytest.fixture(scope="module")
def encoder(world):
    settings = world[0]
    loaded = LightQueryEncoder(settings)
    loaded.load()
    return loaded


@pytest.fixture
def second_half_frame(world, tmp_path) -> Path:
    """A frame of the scene-cut video's second half (the mandelbrot shot), as a PNG."""
    root = world[2]
    frame = tmp_path / "frame.png"
    clip = root / "clips" / "scene_cut.mp4"
    ffmpeg("-ss", str(SCENE_CUT_S + 1.0), "-i", clip, "-frames:v", "1", frame)
    return frame


def test_every_tagged_asset_has_vectors_of_the_model(world, encoder):
    _settings, store, _, ids = world
    model = encoder.info().model_id
    assert store.vector_count(model) == len(ids)
    clip = store.read_vectors(ids["scene_cut"])
    assert clip.model_id == model and len(clip.frames) >= 2 * SCENE_CUT_S / FRAME_GAP_S
    assert list(clip.starts) == sorted(clip.starts) and clip.ends[-1] <= 2 * SCENE_CUT_S
    assert np.linalg.norm(clip.vector) == pytest.approx(1.0, abs=1e-5)
    assert (clip.frame_spreads > 0).all()


def test_like_file_of_an_indexed_image_returns_that_image_first(world, tmp_path, monkeypatch):
    settings, _, root, ids = world
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    for name in PICTURES:
        picture = next((root / "photos").glob(f"{name}.*"))
        result = runner.invoke(cli, ["search", "--like-file", str(picture), "--json"])
        assert result.exit_code == 0, result.output
        found = json.loads(result.output)
        assert found["hits"][0]["id"] == ids[name]
        assert found["hits"][0]["similarity"] == pytest.approx(1.0, abs=1e-3)
        assert found["hits"][0]["tier"] == 4 and found["mode"] == "semantic"


def test_the_cli_searches_like_an_asset_and_refuses_what_it_cannot_do(
    world, tmp_path, monkeypatch, media_lib
):
    settings, _, _, ids = world
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    like = runner.invoke(cli, ["search", "--like", ids["coffee"], "--type", "image", "--json"])
    assert like.exit_code == 0, like.output
    found = json.loads(like.output)
    assert {h["id"] for h in found["hits"]} == {ids[n] for n in PICTURES} - {ids["coffee"]}
    text = runner.invoke(cli, ["search", "--like", ids["scene_cut"]])
    assert text.exit_code == 0 and "similarity" in text.output and "moments" in text.output
    both = runner.invoke(cli, ["search", "harbour", "--like", ids["coffee"]])
    assert both.exit_code == 2 and "one of QUERY" in both.output
    video = runner.invoke(cli, ["search", "--like-file", str(media_lib["h264_mp4"])])
    assert video.exit_code == 2 and "--like ASSET_ID" in video.output
    missing = runner.invoke(cli, ["search", "--like", "nope"])
    assert missing.exit_code == 2 and "no asset" in missing.output
    keyword = runner.invoke(cli, ["search", "harbour", "--mode", "keyword", "--json"])
    assert json.loads(keyword.output)["mode"] == "keyword"


def test_a_frame_of_the_second_half_finds_a_moment_inside_it(world, encoder, second_half_frame):
    settings, store, _, ids = world
    result = by_image(store, second_half_frame, SearchRequest(), settings, encoder)
    hit = next(h for h in result["hits"] if h["id"] == ids["scene_cut"])
    best = hit["moments"][0]
    # a frame stands for half the gap on each side: the cut is known to within that
    assert best["start_s"] >= SCENE_CUT_S - FRAME_GAP_S / 2
    assert best["end_s"] <= 2 * SCENE_CUT_S
    assert best["score"] == max(m["score"] for m in hit["moments"])
    assert best["score"] > hit["similarity"] - 1e-6  # the best frame beats the pooled vector
    photo = next(h for h in result["hits"] if h["media_type"] == "image")
    assert photo["moments"] == []


def test_filters_restrict_semantic_hits(world, encoder):
    settings, store, _, ids = world
    everything = search(store, SearchRequest("a cat", mode=SearchMode.semantic), settings,
                        encoder=encoder)
    assert everything["mode"] == "semantic" and everything["total"]["value"] == len(ids)
    videos = search(
        store,
        SearchRequest("a cat", media_type=MediaType.video, mode=SearchMode.semantic),
        settings,
        encoder=encoder,
    )
    assert {h["id"] for h in videos["hits"]} == {ids[name] for name in VIDEOS}
    photos = search(
        store, SearchRequest("a cat", folder="photos", mode=SearchMode.semantic), settings,
        encoder=encoder,
    )
    assert {h["id"] for h in photos["hits"]} == {ids[name] for name in PICTURES}
    like = similar(store, ids["coffee"], SearchRequest(folder="clips"), settings)
    assert {h["id"] for h in like["hits"]} == {ids[name] for name in VIDEOS}


def test_hybrid_adds_tier_four_after_the_term_tiers_and_keyword_is_unchanged(world, encoder):
    settings, store, _, ids = world
    keyword = search(store, SearchRequest("harbour", mode=SearchMode.keyword), settings)
    hybrid = search(store, SearchRequest("harbour"), settings, encoder=encoder)
    assert hybrid["mode"] == "hybrid" and hybrid["semantic"] == {"available": True, "reason": None}
    term_hits = [(h["id"], h["score"], h["tier"]) for h in keyword["hits"]]
    assert term_hits == [(ids["h264_mp4"], term_hits[0][1], 1)]  # its title: Harbour at dawn
    assert [(h["id"], h["score"], h["tier"]) for h in hybrid["hits"][:1]] == term_hits
    rest = hybrid["hits"][1:]
    assert len(rest) == len(ids) - 1
    assert all(h["tier"] == 4 and h["score"] == 0.0 for h in rest)
    similarities = [h["similarity"] for h in rest]
    assert similarities == sorted(similarities, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in similarities)


def test_without_an_encoder_hybrid_runs_as_keyword_and_says_why(world):
    settings, store, _, _ = world
    asked = search(store, SearchRequest("harbour", mode=SearchMode.semantic), settings)
    assert asked["mode"] == "keyword" and not asked["semantic"]["available"]
    assert asked["notices"] and "keyword search" in asked["notices"][0]
    default = search(store, SearchRequest("harbour"), settings)
    assert default["mode"] == "keyword" and default["notices"] == []


def test_vectors_survive_retag_and_rebuild_index(world, encoder):
    settings, store, _, ids = world
    before = store.read_vectors(ids["scene_cut"])
    summary = Reprocess(settings, store, TaggingEngine(settings), Mode.retag).run(
        Selection(asset_ids=[ids["scene_cut"], ids["coffee"]])
    )
    assert summary.tagged == 2 and summary.from_cache == 2
    after = store.read_vectors(ids["scene_cut"])
    assert np.allclose(after.vector, before.vector, atol=1e-6)
    store.rebuild_index()
    result = similar(store, ids["coffee"], SearchRequest(), settings)
    assert len(result["hits"]) == len(ids) - 1


def test_the_api_searches_by_text_asset_and_picture(world, encoder, second_half_frame):
    settings, store, _, ids = world
    app = create_app(settings, store, encoder=encoder)
    with TestClient(app) as client:
        got = client.get("/search", params={"q": "a cat", "mode": "semantic", "type": "video"})
        assert got.status_code == 200
        assert {h["id"] for h in got.json()["hits"]} == {ids[n] for n in VIDEOS}
        assert got.json()["query"] == "a cat"
        like = client.get(f"/assets/{ids['coffee']}/similar", params={"limit": 2})
        assert like.status_code == 200 and len(like.json()["hits"]) == 2
        assert ids["coffee"] not in {h["id"] for h in like.json()["hits"]}
        picture = second_half_frame.read_bytes()
        found = client.post(
            "/search/by-image",
            files={"file": ("frame.png", picture, "image/png")},
            params={"type": "video"},
        )
        assert found.status_code == 200, found.text
        hits = found.json()["hits"]
        assert {h["id"] for h in hits} == {ids[n] for n in VIDEOS}
        assert all(h["moments"] for h in hits)
        moments = client.get(f"/assets/{ids['scene_cut']}/moments", params={"q": "fractal"})
        assert moments.status_code == 200 and moments.json()["moments"]
        assert client.get("/assets/nope/moments", params={"q": "x"}).status_code == 404
        still = client.get(f"/assets/{ids['coffee']}/moments", params={"q": "a cup"})
        assert still.status_code == 200 and still.json()["moments"] == []  # an image


def test_the_api_refuses_what_is_not_a_picture(world, encoder, media_lib):
    settings, store, _, _ = world
    app = create_app(settings.model_copy(update={"query_image_max_mb": 0.01}), store,
                     encoder=encoder)
    with TestClient(app) as client:
        video = media_lib["h264_mp4"].read_bytes()
        assert client.post(
            "/search/by-image", files={"file": ("v.mp4", video, "video/mp4")}
        ).status_code in (413, 415)
        text = client.post("/search/by-image", files={"file": ("a.png", b"hello", "image/png")})
        assert text.status_code == 415
        broken = client.post(
            "/search/by-image",
            files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png")},
        )
        assert broken.status_code == 422
        big = client.post(
            "/search/by-image", files={"file": ("a.png", b"\x89PNG" + b"\x00" * 20_000)}
        )
        assert big.status_code == 413


def test_the_api_without_embeddings_for_an_asset_answers_409(world, encoder):
    settings, store, _, _ = world
    from tests.fixtures import asset

    store.upsert_many([asset("imported-only", title="no pixels")])
    with TestClient(create_app(settings, store, encoder=encoder)) as client:
        assert client.get("/assets/imported-only/similar").status_code == 409
        assert client.get("/assets/missing/similar").status_code == 404
        moments = client.get("/assets/imported-only/moments", params={"q": "x"})
        assert moments.json()["moments"] == []


def test_doctor_says_whether_the_api_can_search_by_meaning(world, tmp_path):
    from smarttags.doctor import check_semantic

    settings, _, _, ids = world
    found = check_semantic(settings)
    assert found.ok and f"{len(ids)} assets hold its embeddings" in found.detail
    elsewhere = check_semantic(settings.model_copy(update={"data_dir": tmp_path / "empty"}))
    assert not elsewhere.ok and "smarttags index" in elsewhere.fix
