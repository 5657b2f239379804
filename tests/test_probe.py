"""probe(): media identified by content, with real ffmpeg on generated files."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from catalog.asset import AssetStatus, MediaType
from catalog.settings import Settings
from indexer.ffmpeg_tools import FfmpegNotFound, find_ffmpeg, find_ffprobe, input_url
from indexer.probe import (
    MediaRejected,
    RejectReason,
    parse_ffmpeg_report,
    parse_ffprobe_json,
    probe,
    sniff,
)
from tests.media import NON_UTF8_NAME, MediaLibrary, media_settings

pytest_plugins = ["tests.media"]


@pytest.fixture(params=["ffmpeg-report", "ffprobe"])
def reader(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings that probe through ffmpeg's report, and through ffprobe where it exists."""
    use_ffprobe = request.param == "ffprobe"
    if use_ffprobe and find_ffprobe() is None:
        pytest.skip("no ffprobe on PATH (pip installs have none): the ffmpeg report covers it")
    return media_settings(tmp_path, use_ffprobe=use_ffprobe)


def rejection(path: Path, settings: Settings) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        probe(path, settings)
    return caught.value


VIDEOS = [
    ("h264_mp4", "mp4", "h264", 3.0),
    ("h264_mov", "mov", "h264", 3.0),
    ("h264_m4v", "m4v", "h264", 3.0),
    ("hevc_mp4", "mp4", "hevc", 3.0),
    ("vp9_webm", "webm", "vp9", 3.0),
    ("vp8_mkv", "mkv", "vp8", 3.0),
    ("av1_mkv", "mkv", "av1", 3.0),
    ("mpeg4_avi", "avi", "mpeg4", 3.0),
]


@pytest.mark.parametrize(("name", "fmt", "codec", "seconds"), VIDEOS)
def test_each_container_and_codec(
    media_lib: MediaLibrary, reader: Settings, name: str, fmt: str, codec: str, seconds: float
) -> None:
    path = media_lib[name]
    result = probe(path, reader)
    assert result.media_type is MediaType.video
    assert (result.format, result.codec) == (fmt, codec)
    assert (result.width, result.height, result.rotation) == (320, 240, 0)
    assert result.duration_s == pytest.approx(seconds, abs=0.1)
    assert result.fps == pytest.approx(25)
    assert result.size_bytes == path.stat().st_size


def test_rotation_gives_display_dimensions(media_lib: MediaLibrary, reader: Settings) -> None:
    result = probe(media_lib["rotated"], reader)
    assert (result.rotation, result.width, result.height) == (90, 240, 320)


def test_container_tags_become_metadata(media_lib: MediaLibrary, reader: Settings) -> None:
    result = probe(media_lib["h264_mp4"], reader)
    assert result.title == "Harbour at dawn"
    assert result.description == "Boats leave the harbour"
    assert result.keywords == ("boat", "harbour", "dawn")


def test_one_frame_video(media_lib: MediaLibrary, reader: Settings) -> None:
    result = probe(media_lib["one_frame"], reader)
    assert result.media_type is MediaType.video
    assert result.duration_s is not None and result.duration_s < 0.1


IMAGES = [
    ("jpeg", "jpeg", (256, 192)),
    ("png", "png", (256, 192)),
    ("webp", "webp", (256, 192)),
    ("gif", "gif", (64, 48)),
    ("tiff", "tiff", (256, 192)),
    ("bmp", "bmp", (256, 192)),
    ("astronaut", "jpeg", (512, 512)),
    ("coffee", "jpeg", (600, 400)),
    ("chelsea", "jpeg", (451, 300)),
]


@pytest.mark.parametrize(("name", "fmt", "dims"), IMAGES)
def test_images(media_lib: MediaLibrary, name: str, fmt: str, dims: tuple[int, int]) -> None:
    result = probe(media_lib[name], media_settings(Path(".")))
    assert result.media_type is MediaType.image
    assert (result.format, (result.width, result.height)) == (fmt, dims)
    assert (result.duration_s, result.fps, result.rotation) == (None, None, 0)


def test_exif_orientation_and_metadata(media_lib: MediaLibrary) -> None:
    result = probe(media_lib["exif_jpeg"], media_settings(Path(".")))
    assert (result.rotation, result.width, result.height) == (90, 160, 240)
    assert result.title == "Morning coffee"
    assert result.description == "Espresso on a saucer"
    assert result.keywords == ("coffee", "cup", "saucer")


def test_png_text_chunks_become_metadata(media_lib: MediaLibrary) -> None:
    result = probe(media_lib["text_png"], media_settings(Path(".")))
    assert (result.title, result.description) == ("A cat", "Chelsea the cat")
    assert result.keywords == ("cat", "tabby", "chat")


def test_content_wins_over_extension(media_lib: MediaLibrary, reader: Settings) -> None:
    assert probe(media_lib["jpeg_as_png"], reader).format == "jpeg"
    video = probe(media_lib["mp4_as_jpg"], reader)
    assert (video.media_type, video.format) == (MediaType.video, "mov")


def test_non_utf8_file_name(media_lib: MediaLibrary, reader: Settings) -> None:
    path = media_lib["non_utf8"]
    assert os.fsencode(path).endswith(NON_UTF8_NAME)
    result = probe(path, reader)
    assert (result.media_type, result.path) == (MediaType.video, path)


REJECTIONS = [
    ("empty", AssetStatus.failed, RejectReason.empty_file, "empty"),
    ("text_as_mp4", AssetStatus.skipped, RejectReason.unsupported_format, "cannot open"),
    ("audio_m4a", AssetStatus.skipped, RejectReason.no_video_stream, "no video stream"),
    ("audio_mp4", AssetStatus.skipped, RejectReason.no_video_stream, "no video stream"),
    ("truncated_mp4", AssetStatus.failed, RejectReason.corrupt, "moov atom not found"),
    ("junk_mp4", AssetStatus.failed, RejectReason.corrupt, "cannot open"),
    ("truncated_jpeg", AssetStatus.failed, RejectReason.corrupt, "truncated"),
]


@pytest.mark.parametrize(("name", "status", "reason", "says"), REJECTIONS)
def test_rejections(
    media_lib: MediaLibrary,
    reader: Settings,
    name: str,
    status: AssetStatus,
    reason: RejectReason,
    says: str,
) -> None:
    error = rejection(media_lib[name], reader)
    assert (error.status, error.reason) == (status, reason)
    assert says in error.detail
    assert str(error).startswith(f"{status.value} ({reason.value}): ")


def test_too_large_is_decided_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as stream:
        stream.truncate(2 * 1024 * 1024)  # zeros: unreadable as media, but never read
    error = rejection(big, media_settings(tmp_path, max_file_mb=1))
    assert (error.status, error.reason) == (AssetStatus.skipped, RejectReason.too_large)
    assert "2.0 MiB is over the 1 MiB limit" in error.detail


def test_fractional_size_limit(media_lib: MediaLibrary, tmp_path: Path) -> None:
    error = rejection(media_lib["h264_mp4"], media_settings(tmp_path, max_file_mb=0.001))
    assert error.reason is RejectReason.too_large


def test_size_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTTAGS_MAX_FILE_MB", "12.5")
    assert Settings().max_file_mb == 12.5


def test_unreadable_paths(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # opening a FIFO for reading would block forever
    for path, says in [(tmp_path, "regular"), (fifo, "regular")]:
        error = rejection(path, media_settings(tmp_path))
        assert (error.status, error.reason) == (AssetStatus.failed, RejectReason.unreadable)
        assert says in error.detail
    gone = rejection(tmp_path / "missing.mp4", media_settings(tmp_path))
    assert (gone.status, gone.reason) == (AssetStatus.skipped, "missing_file")
    assert "no such file" in gone.detail


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(media_lib: MediaLibrary, tmp_path: Path) -> None:
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(media_lib["jpeg"].read_bytes())
    locked.chmod(0)
    try:
        assert rejection(locked, media_settings(tmp_path)).reason is RejectReason.unreadable
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_video_format_outside_the_accepted_list(media_lib: MediaLibrary, tmp_path: Path) -> None:
    error = rejection(media_lib["vp8_mkv"], media_settings(tmp_path, video_formats=["mp4"]))
    assert (error.status, error.reason) == (AssetStatus.skipped, RejectReason.unsupported_format)
    assert "mkv is not an accepted video format" in error.detail


def test_tool_timeout(media_lib: MediaLibrary, tmp_path: Path) -> None:
    error = rejection(media_lib["h264_mp4"], media_settings(tmp_path, ffmpeg_timeout_s=0.001))
    assert (error.status, error.reason) == (AssetStatus.failed, RejectReason.timeout)


def test_sniff() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"\x00\x00\x00\x18ftypisom") == "isobmff"
    assert sniff(b"\x1a\x45\xdf\xa3\x01") == "matroska"
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff(b"BMW makes cars, this is text") is None
    assert sniff(b"") is None


# --- parsing ffmpeg's report and ffprobe's JSON, as other ffmpeg versions print them ------

OLDER_FFMPEG_REPORT = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/media/it\ufffds.mov':
  Metadata:
    major_brand     : qt
    title           : Street: at night
    comment         : first line
                    : second line
  Duration: 01:02:03.50, start: 0.000000, bitrate: 9000 kb/s
  Chapters:
    Chapter #0:0: start 0.000000, end 10.000000
      Metadata:
        title           : Chapter one
  Stream #0:0(und): Video: hevc (Main) (hvc1 / 0x31637668), yuv420p(tv, bt709), 1920x1080, \
8000 kb/s, 29.97 fps, 29.97 tbr, 600 tbn, 600 tbc (default)
    Metadata:
      rotate          : 90
      handler_name    : Core Media Video
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1(und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp (default)
  Stream #0:2: Video: mjpeg (Baseline), yuvj420p(pc), 600x600 [SAR 1:1 DAR 1:1], 90k tbr \
(attached pic)
Stream mapping:
  Stream #0:0 -> #0:0 (hevc (native) -> wrapped_avframe (native))
Output #0, null, to 'pipe:':
  Stream #0:0(und): Video: wrapped_avframe, yuv420p, 1080x1920, q=2-31, 200 kb/s, 29.97 fps
"""


def test_parse_older_ffmpeg_report() -> None:
    container = parse_ffmpeg_report(OLDER_FFMPEG_REPORT)
    assert container is not None
    assert container.duration_s == pytest.approx(3723.5)
    assert container.tags["title"] == "Street: at night"  # not the chapter's title
    assert container.tags["comment"] == "first line\nsecond line"
    video, audio, cover = container.streams
    assert (video.codec, video.width, video.height) == ("hevc", 1920, 1080)
    assert (video.fps, video.rotation) == (pytest.approx(29.97), 90)
    assert (audio.kind, cover.cover_art) == ("audio", True)


def test_parse_report_of_a_file_that_did_not_open() -> None:
    assert parse_ffmpeg_report("[in#0 @ 0x1] Error opening input: Invalid data\n") is None


def test_parse_ffprobe_json() -> None:
    container = parse_ffprobe_json(
        {
            "format": {"format_name": "matroska,webm", "duration": "N/A", "tags": {"TITLE": "x"}},
            "streams": [
                {"codec_type": "video", "codec_name": "mjpeg", "width": 8, "height": 8,
                 "disposition": {"attached_pic": 1}},
                {"codec_type": "video", "codec_name": "vp9", "width": 640, "height": 480,
                 "avg_frame_rate": "0/0", "r_frame_rate": "30000/1001",
                 "side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]},
            ],
        }
    )  # fmt: skip
    assert (container.duration_s, container.tags) == (None, {"title": "x"})
    cover, video = container.streams
    assert cover.cover_art and not video.cover_art
    assert (video.fps, video.rotation) == (pytest.approx(29.97, abs=0.01), 180)


def test_find_ffmpeg() -> None:
    assert os.access(find_ffmpeg(), os.X_OK)
    with pytest.raises(FfmpegNotFound):
        find_ffmpeg("no-such-ffmpeg-here")


def test_input_url_is_never_an_option_or_protocol() -> None:
    assert input_url(Path("-i.mp4")).startswith("file:/")
    assert input_url(Path("http:x.mp4")).startswith("file:/")


def test_rejection_with_a_reason_of_the_callers_own() -> None:
    error = MediaRejected("failed", "internal_error", "boom")
    assert (error.status, error.reason, str(error)) == (
        AssetStatus.failed,
        "internal_error",
        "failed (internal_error): boom",
    )
