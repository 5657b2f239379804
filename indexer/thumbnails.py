"""Poster thumbnails: one JPEG per asset under <data_dir>/thumbnails/<asset id>.jpg."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from catalog.settings import Settings
from indexer.ffmpeg_tools import find_ffmpeg, input_url, run_bounded
from indexer.limits import decode_upright
from indexer.probe import MediaRejected, ProbeResult, RejectReason

THUMBNAIL_DIR = "thumbnails"
_POSTER_MODE = 0o644  # mkstemp makes files private; whoever serves posters must read them


def poster_path(settings: Settings, asset_id: str) -> Path:
    """Where the poster of `asset_id` lives, whether or not it was written yet."""
    if not asset_id or asset_id.startswith(".") or Path(asset_id).name != asset_id:
        raise ValueError(f"asset id {asset_id!r} cannot name a file")
    return settings.data_dir / THUMBNAIL_DIR / f"{asset_id}.jpg"


def find_poster(settings: Settings, asset_id: str) -> Path | None:
    """The poster of `asset_id` if one was written, else None."""
    path = poster_path(settings, asset_id)
    return path if path.is_file() else None


def write_poster(path: Path, probe_result: ProbeResult, settings: Settings, asset_id: str) -> Path:
    """Write the asset's poster (longer side at most settings.thumbnail_px); return its path."""
    target = poster_path(settings, asset_id)
    if probe_result.is_video:
        picture = _video_poster(Path(path), probe_result, settings)
    else:
        picture = _image_poster(Path(path), settings.thumbnail_px)
    _save_atomically(picture, target, settings.thumbnail_quality)
    return target


def write_image_poster(upright: Image.Image, settings: Settings, asset_id: str) -> Path:
    """The poster of an image already decoded upright (frames.upright_image)."""
    target = poster_path(settings, asset_id)
    picture = upright.copy()
    picture.thumbnail((settings.thumbnail_px, settings.thumbnail_px), Image.Resampling.BICUBIC)
    _save_atomically(picture, target, settings.thumbnail_quality)
    return target


def _image_poster(path: Path, longest: int) -> Image.Image:
    try:
        picture = decode_upright(path, longer=longest)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaRejected.because(RejectReason.corrupt, f"image does not decode: {exc}") from None
    picture.thumbnail((longest, longest), Image.Resampling.BICUBIC)
    return picture


def _video_poster(path: Path, probe_result: ProbeResult, settings: Settings) -> Image.Image:
    width, height = _fit(probe_result.width, probe_result.height, settings.thumbnail_px)
    at = (probe_result.duration_s or 0.0) * settings.thumbnail_position
    pixels = _grab(path, at, width, height, settings)
    if pixels is None and at > 0:  # very short clips: the seek can land past the last frame
        pixels = _grab(path, 0.0, width, height, settings)
    if pixels is None:
        raise MediaRejected.because(RejectReason.corrupt, "no frame decodes for the poster")
    return Image.frombytes("RGB", (width, height), pixels)


def _fit(width: int, height: int, longest: int) -> tuple[int, int]:
    """Display size shrunk (never enlarged) so the longer side is at most `longest`."""
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _grab(path: Path, at: float, width: int, height: int, settings: Settings) -> bytes | None:
    """One RGB frame at `at` seconds, as displayed (ffmpeg autorotates), scaled to size."""
    args = [find_ffmpeg(settings.ffmpeg_binary), "-hide_banner", "-nostdin", "-v", "error"]
    args += ["-ss", f"{at:.3f}", "-i", input_url(path), "-map", "0:V:0", "-frames:v", "1"]
    args += ["-vf", f"scale={width}:{height}:flags={settings.frame_scaler}"]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    try:
        done = run_bounded(args, settings.ffmpeg_timeout_s)
    except subprocess.TimeoutExpired:
        detail = f"the poster frame took over {settings.ffmpeg_timeout_s:g} s"
        raise MediaRejected.because(RejectReason.timeout, detail) from None
    expected = width * height * 3
    return done.stdout if done.returncode == 0 and len(done.stdout) == expected else None


def _save_atomically(picture: Image.Image, target: Path, quality: int) -> None:
    """Readers see the old poster or the new one, never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            picture.save(stream, format="JPEG", quality=quality, optimize=True)
        os.chmod(temp, _POSTER_MODE)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
