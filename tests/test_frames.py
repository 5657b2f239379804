"""iter_frames(): which frames, when, and how they look; real ffmpeg, real files."""

from __future__ import annotations

import gc
import math
import re
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from catalog.settings import Settings
from indexer.ffmpeg_tools import find_ffmpeg
from indexer.frames import Frame, iter_frames
from indexer.probe import MediaRejected, RejectReason, probe
from tests.media import (
    LONG_STATIC_S,
    RAMP_SECONDS,
    SCENE_CUT_S,
    MediaLibrary,
    ffmpeg_children,
    make_gop_clip,
    media_settings,
    ramp_rgb_level,
)

pytest_plugins = ["tests.media"]

SIZE = 64
MODES = ["keyframes", "scene"]


def frames_of(path: Path, settings: Settings, size: int = SIZE) -> list[Frame]:
    return list(iter_frames(path, probe(path, settings), settings, size))


def times(frames: list[Frame]) -> list[float]:
    return [frame.timestamp_s for frame in frames]


@pytest.fixture(params=MODES)
def mode_cfg(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return media_settings(tmp_path, frame_mode=request.param)


@pytest.mark.parametrize(
    "name", ["h264_mp4", "hevc_mp4", "vp9_webm", "vp8_mkv", "av1_mkv", "mpeg4_avi", "h264_mov"]
)
def test_frames_of_each_codec(media_lib: MediaLibrary, mode_cfg: Settings, name: str) -> None:
    path = media_lib[name]
    duration = probe(path, mode_cfg).duration_s
    frames = frames_of(path, mode_cfg)
    stamps = times(frames)
    assert len(frames) >= 2
    assert stamps[0] == pytest.approx(0.0, abs=0.05)
    assert all(a < b for a, b in pairwise(stamps))
    assert duration - mode_cfg.max_frame_gap_s <= stamps[-1] <= duration
    for frame in frames:
        assert frame.rgb.shape == (SIZE, SIZE, 3)
        assert frame.rgb.dtype == np.uint8


def reference_frames(path: Path) -> dict[float, np.ndarray]:
    """Every frame, decoded plainly from the start, keyed by time: what a frame must equal."""
    width = math.ceil(SIZE * 320 / 240)
    chain = f"scale={width}:{SIZE}:flags=bicubic,crop={SIZE}:{SIZE},showinfo"
    done = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-vf", chain,
         "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    stamps = [float(t) for t in re.findall(rb"pts_time:(\S+)", done.stderr)]
    pictures = np.frombuffer(done.stdout, dtype=np.uint8).reshape(-1, SIZE, SIZE, 3)
    return dict(zip(stamps, pictures, strict=True))


@pytest.mark.parametrize(
    "name", ["h264_mp4", "h264_bframes", "hevc_mp4", "vp9_webm", "av1_mkv", "mpeg4_avi"]
)
def test_each_frame_is_the_frame_at_its_time(media_lib: MediaLibrary, name: str, tmp_path: Path):
    """Keyframes and the frames found by seeking both match a plain decode at their time."""
    path = media_lib[name]
    reference = reference_frames(path)
    for frame in frames_of(path, media_settings(tmp_path, max_frame_gap_s=1)):
        nearest = min(reference, key=lambda t: abs(t - frame.timestamp_s))
        assert nearest == pytest.approx(frame.timestamp_s, abs=1e-3)
        error = np.abs(frame.rgb.astype(int) - reference[nearest].astype(int)).mean()
        assert error < 1, (frame.timestamp_s, error)  # neighbouring frames differ by > 3


def test_timestamps_match_the_pictures(media_lib: MediaLibrary, mode_cfg: Settings) -> None:
    """The ramp's grey tells the time: keyframes and gap fills must be stamped right."""
    frames = frames_of(media_lib["ramp"], mode_cfg)
    assert len(frames) >= RAMP_SECONDS / mode_cfg.max_frame_gap_s
    for frame in frames:
        level = frame.rgb.mean()
        assert level == pytest.approx(ramp_rgb_level(frame.timestamp_s), abs=4), frame.timestamp_s


def test_long_static_shot_is_sampled(media_lib: MediaLibrary, mode_cfg: Settings) -> None:
    gap = mode_cfg.max_frame_gap_s
    stamps = times(frames_of(media_lib["long_static"], mode_cfg))
    assert stamps[0] == 0.0
    assert max(b - a for a, b in pairwise(stamps)) <= gap + 1e-6
    assert LONG_STATIC_S - stamps[-1] <= gap


def test_rate_cap(media_lib: MediaLibrary, tmp_path: Path) -> None:
    """Every frame of this clip is a keyframe; at most one frame per 2 s is kept."""
    settings = media_settings(tmp_path, max_frames_per_s=0.5)
    stamps = times(frames_of(media_lib["intra"], settings))
    assert stamps == pytest.approx([0.0, 2.0], abs=0.05)


def test_frames_per_video_cap_spreads_frames(media_lib: MediaLibrary, tmp_path: Path) -> None:
    settings = media_settings(tmp_path, max_frames_per_video=3, max_frame_gap_s=1)
    stamps = times(frames_of(media_lib["long_static"], settings))
    assert len(stamps) == 3
    assert stamps[-1] > LONG_STATIC_S / 2


def test_one_frame_video(media_lib: MediaLibrary, mode_cfg: Settings) -> None:
    frames = frames_of(media_lib["one_frame"], mode_cfg)
    assert times(frames) == [0.0]


def test_scene_cut_has_frames_on_both_sides(media_lib: MediaLibrary, mode_cfg: Settings) -> None:
    frames = frames_of(media_lib["scene_cut"], mode_cfg)
    before = [f for f in frames if f.timestamp_s < SCENE_CUT_S]
    after = [f for f in frames if f.timestamp_s >= SCENE_CUT_S]
    assert before and after
    assert abs(before[0].rgb.astype(int) - after[-1].rgb.astype(int)).mean() > 20


def test_scene_mode_takes_the_cut_itself(media_lib: MediaLibrary, tmp_path: Path) -> None:
    settings = media_settings(tmp_path, frame_mode="scene", max_frame_gap_s=10)
    stamps = times(frames_of(media_lib["scene_cut"], settings))
    assert stamps == pytest.approx([0.0, SCENE_CUT_S], abs=0.05)


def test_rotation_is_applied(media_lib: MediaLibrary, mode_cfg: Settings) -> None:
    """Stored with white on the left; displayed (rotated 90° clockwise) white on top."""
    for frame in frames_of(media_lib["rotated"], mode_cfg):
        top, bottom = frame.rgb[: SIZE // 4].mean(), frame.rgb[-SIZE // 4 :].mean()
        assert top > 200 and bottom < 50


@pytest.mark.parametrize("name", ["jpeg", "png", "webp", "gif", "tiff", "bmp", "jpeg_as_png"])
def test_images_give_one_frame(media_lib: MediaLibrary, media_cfg: Settings, name: str) -> None:
    (frame,) = frames_of(media_lib[name], media_cfg, size=224)
    assert frame.timestamp_s == 0.0
    assert (frame.rgb.shape, frame.rgb.dtype) == ((224, 224, 3), np.uint8)


def test_gif_gives_its_first_frame(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    (frame,) = frames_of(media_lib["gif"], media_cfg)
    assert frame.rgb.reshape(-1, 3).mean(axis=0) == pytest.approx([255, 0, 0], abs=2)


def test_image_orientation_is_applied(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    (frame,) = frames_of(media_lib["oriented_halves"], media_cfg)
    assert frame.rgb[: SIZE // 4].mean() > 200 and frame.rgb[-SIZE // 4 :].mean() < 50


def test_non_utf8_file_name(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    assert len(frames_of(media_lib["non_utf8"], media_cfg)) >= 1


def test_truncated_stream_is_corrupt(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    path = media_lib["truncated_faststart"]
    result = probe(path, media_cfg)  # the index is intact: only decoding finds the cut
    with pytest.raises(MediaRejected) as caught:
        list(iter_frames(path, result, media_cfg, SIZE))
    assert caught.value.reason is RejectReason.corrupt
    assert "decoding stops at" in caught.value.detail


@pytest.mark.usefixtures("no_stray_ffmpeg")
def test_closing_early_ends_ffmpeg(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    path = media_lib["ramp"]
    frames = iter_frames(path, probe(path, media_cfg), media_cfg, SIZE)
    next(frames)  # from the keyframe pass
    next(frames)  # from a fill before the next keyframe: two ffmpeg processes now
    assert len(ffmpeg_children()) == 2
    frames.close()
    assert ffmpeg_children() == []


@pytest.mark.usefixtures("no_stray_ffmpeg")
def test_abandoned_generator_ends_ffmpeg(media_lib: MediaLibrary, media_cfg: Settings) -> None:
    path = media_lib["h264_mp4"]
    for _ in iter_frames(path, probe(path, media_cfg), media_cfg, SIZE):
        break
    gc.collect()
    assert ffmpeg_children() == []


@pytest.mark.usefixtures("no_stray_ffmpeg")
def test_stalled_ffmpeg_times_out(media_lib: MediaLibrary, tmp_path: Path) -> None:
    settings = media_settings(tmp_path, decode_stall_timeout_s=0.001)
    path = media_lib["h264_mp4"]
    with pytest.raises(MediaRejected) as caught:
        frames_of(path, settings)
    assert caught.value.reason is RejectReason.timeout


@pytest.mark.slow
@pytest.mark.parametrize("keyint_s", [2, 5])
def test_decode_speed_1080p(tmp_path_factory: pytest.TempPathFactory, keyint_s: int) -> None:
    """Prints keyframe-mode decode speed on 60 s of 1080p H.264 (run with -m slow -s)."""
    folder = tmp_path_factory.mktemp("speed")
    clip = make_gop_clip(folder / f"gop{keyint_s}.mp4", seconds=60, size="1920x1080",
                         keyint_s=keyint_s)  # fmt: skip
    settings = media_settings(folder)
    started = time.perf_counter()
    result = probe(clip, settings)
    stamps = [f.timestamp_s for f in iter_frames(clip, result, settings, 224)]
    seconds = time.perf_counter() - started
    print(f"\n60 s 1080p H.264, keyframe every {keyint_s} s: probe + {len(stamps)} frames "
          f"in {seconds:.2f} s = {60 / seconds:.0f}x real time")  # fmt: skip
    assert max(b - a for a, b in pairwise(stamps)) <= settings.max_frame_gap_s + 1e-6
