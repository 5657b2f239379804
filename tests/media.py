"""Synthetic media for the indexer tests, made on demand with the real ffmpeg binary.

`MediaLibrary` makes each file the first time a test asks for it, under a session-wide
temporary folder, so a single test only pays for the media it uses. Encoders the ffmpeg build
lacks make the asking test skip with a reason.

Test modules get the fixtures below with `pytest_plugins = ["tests.media"]`; they import its
helpers first, hence PYTEST_DONT_REWRITE (pytest would warn that it cannot rewrite asserts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog.settings import Settings
from indexer.ffmpeg_tools import find_ffmpeg

GENERATE_TIMEOUT_S = 120
CLIP_SIZE = "320x240"
CLIP_RATE = 25
CLIP_SECONDS = 3  # long enough that a 2 s sampling floor needs a frame between keyframes
SCENE_CUT_S = 2.0
LONG_STATIC_S = 20
NON_UTF8_NAME = b"caf\xe9-\xff.mp4"


def ffmpeg(*args: str | os.PathLike) -> None:
    """Run the ffmpeg binary quietly; fail loudly with its stderr."""
    cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, timeout=GENERATE_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{done.stderr.decode(errors='replace')}")


@cache
def encoders() -> frozenset[str]:
    out = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-encoders"], capture_output=True, check=True
    ).stdout.decode()
    return frozenset(line.split()[1] for line in out.splitlines() if line.startswith(" V"))


def first_encoder(*names: str) -> str:
    """The first of `names` this ffmpeg can encode with, else skip the asking test."""
    found = next((name for name in names if name in encoders()), None)
    if found is None:
        pytest.skip(f"this ffmpeg build has none of the encoders {', '.join(names)}")
    return found


def x264(preset: str = "ultrafast") -> list[str]:
    first_encoder("libx264")
    return ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p"]


def lavfi_clip(
    out: Path, codec_args: list[str], *, seconds: float = CLIP_SECONDS, source: str = "testsrc2"
) -> Path:
    spec = f"{source}=size={CLIP_SIZE}:rate={CLIP_RATE}:duration={seconds}"
    ffmpeg("-f", "lavfi", "-i", spec, *codec_args, out)
    return out


# --- videos -----------------------------------------------------------------------------


def make_h264_mp4(root: Path) -> Path:
    return _tagged_h264(root / "h264.mp4")


def _tagged_h264(out: Path) -> Path:
    meta = ["-metadata", "title=Harbour at dawn", "-metadata", "comment=Boats leave the harbour"]
    meta += ["-metadata", "keywords=boat, harbour;dawn"]
    return lavfi_clip(out, [*x264(), *meta])


def make_h264_bframes(root: Path) -> Path:
    """B-frames and a keyframe every 2.4 s: gap fills must skip frames and still be exact."""
    return make_gop_clip(root / "bframes.mp4", seconds=5, size=CLIP_SIZE, keyint_s=2.4)


def make_h264_mov(root: Path) -> Path:
    return lavfi_clip(root / "h264.mov", x264())


def make_h264_m4v(root: Path) -> Path:
    return lavfi_clip(root / "h264.m4v", [*x264(), "-f", "ipod"])


def make_hevc_mp4(root: Path) -> Path:
    codec = first_encoder("libx265", "libkvazaar")
    quiet = ["-x265-params", "log-level=error"] if codec == "libx265" else []
    args = ["-c:v", codec, "-preset", "ultrafast", *quiet, "-tag:v", "hvc1", "-pix_fmt", "yuv420p"]
    return lavfi_clip(root / "hevc.mp4", args)


def make_vp9_webm(root: Path) -> Path:
    codec = first_encoder("libvpx-vp9")
    args = ["-c:v", codec, "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"]
    return lavfi_clip(root / "vp9.webm", args)


def make_vp8_mkv(root: Path) -> Path:
    codec = first_encoder("libvpx")
    return lavfi_clip(root / "vp8.mkv", ["-c:v", codec, "-deadline", "realtime", "-cpu-used", "8"])


def make_av1_mkv(root: Path) -> Path:
    codec = first_encoder("libaom-av1", "libsvtav1", "librav1e")
    speed = {
        "libaom-av1": ["-cpu-used", "8", "-usage", "realtime"],
        "libsvtav1": ["-preset", "12", "-svtav1-params", "log-level=0"],
        "librav1e": ["-speed", "10"],
    }[codec]
    return lavfi_clip(root / "av1.mkv", ["-c:v", codec, *speed, "-pix_fmt", "yuv420p"])


def make_mpeg4_avi(root: Path) -> Path:
    return lavfi_clip(root / "mpeg4.avi", ["-c:v", "mpeg4", "-q:v", "5"])


def make_rotated_mp4(root: Path) -> Path:
    """Stored landscape, left half white; shown rotated 90° clockwise, so white is on top."""
    plain = root / "rotated-source.mp4"
    half_black = "drawbox=x=iw/2:y=0:w=iw/2:h=ih:color=black:t=fill"
    spec = f"color=white:size={CLIP_SIZE}:rate={CLIP_RATE}:duration=2"
    ffmpeg("-f", "lavfi", "-i", spec, "-vf", half_black, *x264(), plain)
    out = root / "rotated.mp4"
    try:  # -display_rotation is counter-clockwise, like the display matrix itself
        ffmpeg("-display_rotation", "-90", "-i", plain, "-c", "copy", out)
    except RuntimeError:  # ffmpeg before 6.1: the legacy tag, written into the display
        # matrix as-is, so counter-clockwise too (checked with Debian's 5.1: rotate=270 gives
        # ffprobe's rotation=-90, the same file as -display_rotation -90)
        ffmpeg("-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270", out)
    return out


RAMP_LEVELS_PER_S = 40
RAMP_SECONDS = 5


def make_ramp(root: Path) -> Path:
    """Grey that brightens with time (luma 16 + 40 per second), a keyframe every 2.4 s."""
    out = root / "ramp.mp4"
    spec = f"nullsrc=size=160x120:rate={CLIP_RATE}:duration={RAMP_SECONDS}"
    grey = f"geq=lum='16+T*{RAMP_LEVELS_PER_S}':cb=128:cr=128"
    ffmpeg("-f", "lavfi", "-i", f"{spec},format=yuv420p,{grey}", *x264(), "-g", "60", out)
    return out


def ramp_rgb_level(seconds: float) -> float:
    """The RGB grey of the ramp at `seconds` (limited-range luma expanded to 0-255)."""
    return RAMP_LEVELS_PER_S * seconds * 255 / 219


def make_intra_only(root: Path) -> Path:
    """Every frame a keyframe, as with intra-only camera codecs."""
    return lavfi_clip(root / "intra.mp4", [*x264(), "-g", "1"], seconds=4)


def make_one_frame_mp4(root: Path) -> Path:
    return lavfi_clip(root / "one-frame.mp4", [*x264(), "-frames:v", "1"])


def make_audio_m4a(root: Path) -> Path:
    out = root / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", out)
    return out


def make_audio_named_mp4(root: Path) -> Path:
    out = root / "tone-audio-only.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", out)
    return out


def make_long_static(root: Path) -> Path:
    """One still colour at 5 fps: x264's default GOP makes its only keyframe the first."""
    out = root / "long-static.mp4"
    spec = f"color=c=0x336699:size=160x120:rate=5:duration={LONG_STATIC_S}"
    ffmpeg("-f", "lavfi", "-i", spec, *x264(), out)
    return out


def make_scene_cut(root: Path) -> Path:
    """A colour-bar shot, then a hard cut at SCENE_CUT_S to a mandelbrot shot.

    Encoded with x264's scene-cut detection on (ultrafast turns it off), as cameras and web
    encoders do, so the cut also starts a new GOP.
    """
    out = root / "scene-cut.mp4"
    first = f"smptebars=size={CLIP_SIZE}:rate={CLIP_RATE}:duration={SCENE_CUT_S}"
    second = f"mandelbrot=size={CLIP_SIZE}:rate={CLIP_RATE},trim=duration={SCENE_CUT_S}"
    graph = "[0:v][1:v]concat=n=2:v=1:a=0[v]"
    ffmpeg(
        "-f", "lavfi", "-i", first, "-f", "lavfi", "-i", second,
        "-filter_complex", graph, "-map", "[v]", *x264("veryfast"), out,
    )  # fmt: skip
    return out


def make_gop_clip(out: Path, *, seconds: int, size: str, keyint_s: float, rate: int = 25) -> Path:
    """An x264 clip with a keyframe every `keyint_s`: the shape of a typical web video."""
    keyint = str(round(keyint_s * rate))
    spec = f"testsrc2=size={size}:rate={rate}:duration={seconds}"
    ffmpeg("-f", "lavfi", "-i", spec, *x264("veryfast"), "-g", keyint, "-keyint_min", keyint, out)
    return out


# --- images -----------------------------------------------------------------------------


def photo(name: str = "astronaut") -> Image.Image:
    """A real photograph bundled with scikit-image."""
    from skimage import data

    return Image.fromarray(np.asarray(getattr(data, name)()))


def make_image(root: Path, fmt: str) -> Path:
    img = photo().resize((256, 192))
    out = root / f"photo.{fmt.lower()}"
    img.save(out, format=fmt)
    return out


def make_photo_jpeg(root: Path, name: str) -> Path:
    out = root / f"{name}.jpg"
    photo(name).save(out, format="JPEG", quality=90)
    return out


def make_exif_jpeg(root: Path) -> Path:
    """Stored 240x160 with EXIF orientation 6 (display rotated 90° clockwise) and metadata."""
    img = photo("coffee").resize((240, 160))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "Espresso on a saucer"
    exif[0x9C9B] = "Morning coffee".encode("utf-16-le") + b"\x00\x00"
    exif[0x9C9E] = "coffee;cup;saucer".encode("utf-16-le") + b"\x00\x00"
    out = root / "exif.jpg"
    img.save(out, format="JPEG", exif=exif)
    return out


def make_oriented_halves_jpeg(root: Path) -> Path:
    """Stored left half white, right half black, EXIF orientation 6: displayed white on top."""
    pixels = np.zeros((80, 120, 3), dtype=np.uint8)
    pixels[:, :60] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    out = root / "oriented.jpg"
    Image.fromarray(pixels).save(out, format="JPEG", exif=exif, quality=95)
    return out


def make_text_png(root: Path) -> Path:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", "A cat")
    info.add_text("Description", "Chelsea the cat")
    info.add_itxt("Keywords", "cat, tabby, chat", lang="en")
    out = root / "text.png"
    photo("chelsea").save(out, format="PNG", pnginfo=info)
    return out


def make_animated_gif(root: Path) -> Path:
    frames = [Image.new("RGB", (64, 48), color) for color in ("red", "blue", "green")]
    out = root / "animated.gif"
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out


# --- bad inputs -------------------------------------------------------------------------


def make_truncated_mp4(root: Path) -> Path:
    """The moov box is written last, so cutting the file in half loses the index."""
    whole = lavfi_clip(root / "whole-for-truncation.mp4", x264(), seconds=4)
    return _prefix(whole, root / "truncated.mp4", 0.5)


def make_truncated_faststart_mp4(root: Path) -> Path:
    """Index first (faststart): opens and decodes, then the data stops halfway."""
    faststart = [*x264(), "-movflags", "+faststart"]
    whole = lavfi_clip(root / "whole-faststart.mp4", faststart, seconds=4)
    return _prefix(whole, root / "truncated-faststart.mp4", 0.5)


def make_truncated_jpeg(root: Path) -> Path:
    return _prefix(make_photo_jpeg(root, "astronaut"), root / "truncated.jpg", 0.5)


def make_junk_after_ftyp(root: Path) -> Path:
    out = root / "junk.mp4"
    junk = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    out.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + junk)
    return out


def make_empty(root: Path) -> Path:
    out = root / "empty.mp4"
    out.write_bytes(b"")
    return out


def make_text_as_mp4(root: Path) -> Path:
    out = root / "notes.mp4"
    out.write_text("These are meeting notes, not a video.\n" * 20)
    return out


def make_jpeg_as_png(root: Path) -> Path:
    out = root / "really-a-jpeg.png"
    shutil.copyfile(make_photo_jpeg(root, "astronaut"), out)
    return out


def make_mp4_as_jpg(root: Path) -> Path:
    out = root / "really-a-video.jpg"
    shutil.copyfile(make_h264_mov(root), out)
    return out


def make_non_utf8_name(root: Path) -> Path:
    """A Latin-1 file name, not valid UTF-8: Python carries it as surrogate escapes."""
    raw = os.path.join(os.fsencode(root), NON_UTF8_NAME)
    shutil.copyfile(os.fsencode(make_h264_mov(root)), raw)
    return Path(os.fsdecode(raw))


def _prefix(src: Path, out: Path, share: float) -> Path:
    data = src.read_bytes()
    out.write_bytes(data[: int(len(data) * share)])
    return out


MAKERS: dict[str, Callable[[Path], Path]] = {
    "h264_mp4": make_h264_mp4,
    "h264_bframes": make_h264_bframes,
    "h264_mov": make_h264_mov,
    "h264_m4v": make_h264_m4v,
    "hevc_mp4": make_hevc_mp4,
    "vp9_webm": make_vp9_webm,
    "vp8_mkv": make_vp8_mkv,
    "av1_mkv": make_av1_mkv,
    "mpeg4_avi": make_mpeg4_avi,
    "rotated": make_rotated_mp4,
    "one_frame": make_one_frame_mp4,
    "ramp": make_ramp,
    "intra": make_intra_only,
    "audio_m4a": make_audio_m4a,
    "audio_mp4": make_audio_named_mp4,
    "long_static": make_long_static,
    "scene_cut": make_scene_cut,
    "jpeg": lambda root: make_image(root, "JPEG"),
    "png": lambda root: make_image(root, "PNG"),
    "webp": lambda root: make_image(root, "WEBP"),
    "gif": make_animated_gif,
    "tiff": lambda root: make_image(root, "TIFF"),
    "bmp": lambda root: make_image(root, "BMP"),
    "astronaut": lambda root: make_photo_jpeg(root, "astronaut"),
    "coffee": lambda root: make_photo_jpeg(root, "coffee"),
    "chelsea": lambda root: make_photo_jpeg(root, "chelsea"),
    "exif_jpeg": make_exif_jpeg,
    "oriented_halves": make_oriented_halves_jpeg,
    "text_png": make_text_png,
    "truncated_mp4": make_truncated_mp4,
    "truncated_faststart": make_truncated_faststart_mp4,
    "truncated_jpeg": make_truncated_jpeg,
    "junk_mp4": make_junk_after_ftyp,
    "empty": make_empty,
    "text_as_mp4": make_text_as_mp4,
    "jpeg_as_png": make_jpeg_as_png,
    "mp4_as_jpg": make_mp4_as_jpg,
    "non_utf8": make_non_utf8_name,
}


class MediaLibrary:
    """Media files by name (see MAKERS), each made once per test session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._made:
            folder = self.root / name
            folder.mkdir(exist_ok=True)
            self._made[name] = MAKERS[name](folder)
        return self._made[name]


def media_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data folder, no environment or TOML file involved."""
    return Settings(**{"data_dir": data_dir, "use_ffprobe": False, **overrides})


def ffmpeg_children() -> list[int]:
    """Ids of this process's child processes running ffmpeg, zombies included (Linux)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_ffmpeg_child(entry, me):
            found.append(int(entry.name))
    return found


def _is_ffmpeg_child(proc_dir: Path, parent: int) -> bool:
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return False
    name, _, rest = stat.rpartition(")")
    return "ffmpeg" in name and int(rest.split()[1]) == parent


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media_lib(tmp_path_factory: pytest.TempPathFactory) -> MediaLibrary:
    return MediaLibrary(tmp_path_factory.mktemp("media"))


@pytest.fixture
def media_cfg(tmp_path: Path) -> Settings:
    """Settings with a fresh data folder; probing through ffmpeg's own report."""
    return media_settings(tmp_path / "data")


@pytest.fixture
def no_stray_ffmpeg() -> Iterator[None]:
    """Fails the test when it leaves an ffmpeg child process behind."""
    yield
    assert ffmpeg_children() == [], "an ffmpeg process outlived the test"
