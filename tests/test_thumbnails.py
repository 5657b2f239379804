"""Posters: valid JPEGs of the right size, in the right place, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog.settings import Settings
from indexer.probe import probe
from indexer.thumbnails import find_poster, poster_path, write_poster
from tests.media import RAMP_SECONDS, MediaLibrary, media_settings, ramp_rgb_level

pytest_plugins = ["tests.media"]


def poster_of(path: Path, settings: Settings, asset_id: str = "a1") -> Image.Image:
    written = write_poster(path, probe(path, settings), settings, asset_id)
    assert written == settings.data_dir / "thumbnails" / f"{asset_id}.jpg"
    with Image.open(written) as img:
        assert img.format == "JPEG"
        img.load()
        return img


@pytest.mark.parametrize(
    ("name", "size"),
    [("h264_mp4", (320, 240)), ("vp9_webm", (320, 240)), ("astronaut", (512, 512)),
     ("coffee", (512, 341)), ("png", (256, 192)), ("gif", (64, 48))],
)  # fmt: skip
def test_poster_size(
    media_lib: MediaLibrary, media_cfg: Settings, name: str, size: tuple[int, int]
) -> None:
    """The longer side is thumbnail_px (512), never enlarged."""
    assert poster_of(media_lib[name], media_cfg).size == size


def test_thumbnail_px_setting(media_lib: MediaLibrary, tmp_path: Path) -> None:
    settings = media_settings(tmp_path, thumbnail_px=160)
    assert poster_of(media_lib["h264_mp4"], settings).size == (160, 120)
    assert poster_of(media_lib["chelsea"], settings).size == (160, 106)


def test_video_poster_is_taken_at_a_tenth(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    level = np.asarray(poster_of(media_lib["ramp"], media_cfg)).mean()
    assert level == pytest.approx(ramp_rgb_level(RAMP_SECONDS * 0.1), abs=5)


def test_one_frame_video_poster(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    assert poster_of(media_lib["one_frame"], media_cfg).size == (320, 240)


@pytest.mark.parametrize("name", ["rotated", "oriented_halves"])
def test_poster_is_upright(media_lib: MediaLibrary, media_cfg: Settings, name: str) -> None:
    """Both are stored white-left and displayed white-on-top."""
    pixels = np.asarray(poster_of(media_lib[name], media_cfg).convert("L"))
    height, width = pixels.shape
    assert height > width
    assert pixels[: height // 4].mean() > 200 and pixels[-height // 4 :].mean() < 50


def test_rewrite_replaces_and_leaves_no_temporary_files(
    media_lib: MediaLibrary, media_cfg: Settings
) -> None:
    assert find_poster(media_cfg, "a1") is None
    poster_of(media_lib["coffee"], media_cfg)
    poster_of(media_lib["chelsea"], media_cfg)
    assert find_poster(media_cfg, "a1") == poster_path(media_cfg, "a1")
    assert [p.name for p in (media_cfg.data_dir / "thumbnails").iterdir()] == ["a1.jpg"]
    with Image.open(poster_path(media_cfg, "a1")) as img:
        assert img.size == (451, 300)


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden"])
def test_poster_path_refuses_ids_that_are_not_file_names(media_cfg: Settings, bad: str) -> None:
    with pytest.raises(ValueError, match="cannot name a file"):
        poster_path(media_cfg, bad)
