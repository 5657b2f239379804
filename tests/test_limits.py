"""Indexing bounds: pixel bombs are skipped before decoding, one page of an animated image is
decoded, a link out of the library and a file removed meanwhile are reasons, not crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from catalog.sqlite_store import SqliteStore
from indexer.engine import TaggingEngine
from indexer.limits import MISSING_FILE, OUTSIDE_LIBRARY, TOO_MANY_PIXELS
from indexer.pipeline import IndexRun
from indexer.probe import MediaRejected, probe
from indexer.scan import scan
from smarttags.cli import cli
from tests.big_images import flat_png
from tests.test_pipeline import settings_for

pytest_plugins = ["tests.media", "tests.test_pipeline"]


def test_a_pixel_bomb_is_skipped_before_it_is_decoded(tmp_path, tiny_model):
    # 13,000 x 13,000: under Pillow's own bomb limit (179 MP), so only our bound stops it
    bomb = flat_png(tmp_path / "bomb.png", 13_000, 13_000)
    assert bomb.stat().st_size < 1_000_000
    settings = settings_for(tmp_path, tiny_model)
    started = time.monotonic()
    with pytest.raises(MediaRejected) as caught:
        probe(bomb, settings)
    assert (caught.value.status.value, caught.value.reason) == ("skipped", TOO_MANY_PIXELS)
    assert "169.0 megapixels" in caught.value.detail
    assert time.monotonic() - started < 1.0  # decoding it takes seconds: it was not decoded


def test_pillow_s_own_bomb_error_is_too_many_pixels_too(tmp_path, tiny_model):
    bomb = flat_png(tmp_path / "giant.png", 20_000, 20_000)  # 400 MP: Pillow refuses to open
    settings = settings_for(tmp_path, tiny_model, max_image_megapixels=1000)
    with pytest.raises(MediaRejected) as caught:
        probe(bomb, settings)
    assert caught.value.reason == TOO_MANY_PIXELS


def test_the_pixel_bound_is_a_setting(tmp_path, tiny_model):
    image = flat_png(tmp_path / "small.png", 1200, 1000)  # 1.2 MP
    assert probe(image, settings_for(tmp_path, tiny_model)).width == 1200
    with pytest.raises(MediaRejected) as caught:
        probe(image, settings_for(tmp_path, tiny_model, max_image_megapixels=1))
    assert caught.value.reason == TOO_MANY_PIXELS


def test_video_frames_are_bounded_too(tmp_path, tiny_model, media_lib):
    clip = media_lib["h264_mp4"]
    settings = settings_for(tmp_path, tiny_model, max_image_megapixels=0.01)
    with pytest.raises(MediaRejected) as caught:
        probe(clip, settings)
    assert caught.value.reason == TOO_MANY_PIXELS


def test_only_the_first_page_of_an_animated_gif_is_decoded(tmp_path, tiny_model):
    pages = [Image.new("RGB", (32, 32), (i % 256, 0, 0)) for i in range(2000)]
    gif = tmp_path / "lib" / "many.gif"
    gif.parent.mkdir()
    pages[0].save(gif, save_all=True, append_images=pages[1:], duration=10)
    settings = settings_for(tmp_path, tiny_model)
    store = SqliteStore(settings)
    started = time.monotonic()
    summary = IndexRun(settings, store, TaggingEngine(settings)).run(scan([gif.parent], None))
    assert summary.tagged == 1
    assert store.get(summary.assets[0].id).media_type.value == "image"
    store.close()
    assert time.monotonic() - started < 30


def _index_cli(settings, *paths) -> tuple[int, dict]:
    env_args = ["--data-dir", str(settings.data_dir)]
    overrides = {
        "SMARTTAGS_MODEL": settings.model,
        "SMARTTAGS_PRETRAINED": settings.pretrained,
        "SMARTTAGS_ENCODE_PRECISION": "fp32",
        "SMARTTAGS_USE_FFPROBE": "false",
    }
    result = CliRunner(env=overrides).invoke(
        cli, [*env_args, "index", *map(str, paths), "--json"], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout.splitlines()[-1])


def test_a_link_out_of_the_library_is_skipped_and_the_run_goes_on(tmp_path, tiny_model):
    library, outside = tmp_path / "lib", tmp_path / "outside"
    library.mkdir()
    outside.mkdir()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(library / "inside.png")
    Image.new("RGB", (64, 48), (200, 10, 10)).save(outside / "secret.png")
    os.symlink(outside / "secret.png", library / "link.png")
    settings = settings_for(tmp_path, tiny_model)
    code, summary = _index_cli(settings, library)
    assert code == 0
    by_path = {row["path"]: row for row in summary["assets"]}
    assert by_path["inside.png"]["status"] == "tagged"
    assert (by_path["link.png"]["status"], by_path["link.png"]["reason"]) == (
        "skipped",
        OUTSIDE_LIBRARY,
    )
    assert summary["skipped"] == {OUTSIDE_LIBRARY: 1}


def test_a_file_removed_between_scan_and_processing_is_missing_file(tmp_path, tiny_model):
    library = tmp_path / "lib"
    library.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (64, 48), (10, 120, 200)).save(library / name)
    settings = settings_for(tmp_path, tiny_model)
    tasks = scan([library], None)
    (library / "a.png").unlink()
    store = SqliteStore(settings)
    summary = IndexRun(settings, store, TaggingEngine(settings)).run(tasks)
    store.close()
    outcomes = {o.path: (o.status, o.reason) for o in summary.assets}
    assert outcomes == {"a.png": ("skipped", MISSING_FILE), "b.png": ("tagged", None)}


def test_control_characters_in_file_names_are_escaped_not_refused(tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    (library / "new\nline.png").write_bytes(b"x")
    [task] = scan([library], None)
    assert task.rel == "new%0Aline.png"


_DECODE_PEAK = """
import resource, sys
from pathlib import Path
from indexer.limits import decode_upright
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
picture = decode_upright(Path(sys.argv[1]), shorter=int(sys.argv[2]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(picture.size[0], picture.size[1], (after - before) // 1024)
"""


def test_decoding_a_100_megapixel_image_holds_one_full_size_copy(tmp_path):
    """Frames and posters of a 100 MP RGB image cost its decoded size once (300 MB), not the
    three copies that rotation and RGB conversion at full size made."""
    image = flat_png(tmp_path / "hundred.png", 10_000, 10_000, rgb=True)
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_PEAK, str(image), "224"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    width, height, grown_mib = map(int, done.stdout.split())
    assert min(width, height) >= 224
    assert grown_mib < 400, f"decoding grew the process by {grown_mib} MiB"


@pytest.mark.slow
def test_indexing_a_100_megapixel_image_peaks_under_1_5_gib(tmp_path):
    from bench.limits_memory import _model, index_peak

    image = flat_png(tmp_path / "hundred.png", 10_000, 10_000, rgb=True)
    code, peak_mib = index_peak(image, tmp_path / "run", _model("tiny", tmp_path))
    assert code == 0
    assert peak_mib < 1.5 * 1024, f"peak {peak_mib:.0f} MiB"
