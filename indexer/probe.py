"""Probe: what a media file is, read from its content (never its extension), or why not.

Images are opened with PIL, restricted to the formats we tag. Everything else goes to ffmpeg:
ffprobe's JSON when ffprobe is on PATH, else the report that `ffmpeg -i` prints on stderr.
A one-frame decode with ffmpeg always runs too, so a file that opens but cannot be decoded is
caught here rather than halfway through tagging.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from PIL import Image, IptcImagePlugin, UnidentifiedImageError

from catalog.asset import AssetStatus, MediaType
from catalog.media_sniff import IMAGE_FAMILIES, VIDEO_FAMILIES, sniff
from catalog.settings import Settings
from indexer.ffmpeg_tools import find_ffmpeg, find_ffprobe, input_url, run_bounded
from indexer.limits import MISSING_FILE, SKIPPED, TOO_MANY_PIXELS, pixels_over_limit

_HEAD_BYTES = 64
_DETAIL_CHARS = 400
_DETAIL_LINES = 3
_MIB = 1024 * 1024


class RejectReason(StrEnum):
    too_large = "too_large"
    empty_file = "empty_file"
    unsupported_format = "unsupported_format"
    no_video_stream = "no_video_stream"
    corrupt = "corrupt"
    unreadable = "unreadable"
    timeout = "timeout"  # a tool ran past its time limit (hostile or pathological file)


# Files we do not tag on purpose are skipped; files we meant to tag and could not are failed.
_STATUS_OF = {
    RejectReason.too_large: AssetStatus.skipped,
    RejectReason.unsupported_format: AssetStatus.skipped,
    RejectReason.no_video_stream: AssetStatus.skipped,
    RejectReason.empty_file: AssetStatus.failed,
    RejectReason.corrupt: AssetStatus.failed,
    RejectReason.unreadable: AssetStatus.failed,
    RejectReason.timeout: AssetStatus.failed,
}


class MediaRejected(Exception):
    """A file that will not be tagged: `status` (skipped|failed), `reason`, human `detail`.

    `reason` is a RejectReason here; callers may raise it with reasons of their own.
    """

    def __init__(self, status: AssetStatus | str, reason: str, detail: str) -> None:
        super().__init__(status, reason, detail)
        self.status = AssetStatus(status)
        self.reason = reason
        self.detail = detail

    @classmethod
    def because(cls, reason: RejectReason, detail: str) -> MediaRejected:
        """The rejection with the status that `reason` implies."""
        return cls(_STATUS_OF[reason], reason, detail)

    def __str__(self) -> str:
        return f"{self.status.value} ({self.reason}): {self.detail}"


@dataclass(frozen=True)
class ProbeResult:
    """What a media file is. width/height are as displayed, after `rotation`."""

    path: Path
    media_type: MediaType
    format: str  # jpeg, png, webp, gif, tiff, bmp; mp4, mov, m4v, webm, mkv, avi, ...
    codec: str | None  # ffmpeg's codec name for videos (h264, hevc, vp9, av1, ...); images: format
    size_bytes: int
    width: int
    height: int
    rotation: int = 0  # degrees clockwise applied for display: 0, 90, 180 or 270
    duration_s: float | None = None
    fps: float | None = None
    title: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()

    @property
    def is_video(self) -> bool:
        return self.media_type is MediaType.video


def probe(path: Path, settings: Settings) -> ProbeResult:
    """Identify `path` by its content; raise MediaRejected when it will not be tagged."""
    path = Path(path)
    size = _checked_size(path, settings)
    head = _read_head(path)
    family = sniff(head)
    if family in IMAGE_FAMILIES:
        return _probe_image(path, size, settings)
    return _probe_video(path, size, head, family, settings)


# --- content sniffing: catalog/media_sniff.py (the API sniffs uploads with it too) ------


def _checked_size(path: Path, settings: Settings) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MediaRejected(SKIPPED, MISSING_FILE, "no such file (removed meanwhile)") from None
    except OSError as exc:
        raise MediaRejected.because(RejectReason.unreadable, _os_error(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise MediaRejected.because(RejectReason.unreadable, "not a regular file")
    limit = settings.max_file_mb * _MIB
    if info.st_size > limit:
        detail = f"{info.st_size / _MIB:.1f} MiB is over the {settings.max_file_mb:g} MiB limit"
        raise MediaRejected.because(RejectReason.too_large, detail)
    if info.st_size == 0:
        raise MediaRejected.because(RejectReason.empty_file, "the file is empty (0 bytes)")
    return info.st_size


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise MediaRejected.because(RejectReason.unreadable, _os_error(exc)) from None


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- images -----------------------------------------------------------------------------

_PIL_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
_EXIF_ORIENTATION = 0x0112
_EXIF_DESCRIPTION = 0x010E
_EXIF_XP_TITLE = 0x9C9B
_EXIF_XP_COMMENT = 0x9C9C
_EXIF_XP_KEYWORDS = 0x9C9E
_IPTC_TITLE = (2, 5)
_IPTC_KEYWORDS = (2, 25)
_IPTC_CAPTION = (2, 120)
_ORIENTATION_DEGREES = {3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}


def _probe_image(path: Path, size: int, settings: Settings) -> ProbeResult:
    try:
        with Image.open(path, formats=_PIL_FORMATS) as img:
            fmt = "jpeg" if img.format == "MPO" else str(img.format).lower()
            width, height = img.size
            if over := pixels_over_limit(width, height, settings):  # limits: before decoding
                raise MediaRejected(SKIPPED, TOO_MANY_PIXELS, over)
            rotation = _ORIENTATION_DEGREES.get(_orientation(img), 0)
            _decode_cheaply(img)
            meta = _image_metadata(img)
    except Image.DecompressionBombError as exc:
        raise MediaRejected(SKIPPED, TOO_MANY_PIXELS, str(exc)) from None  # limits
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaRejected.because(RejectReason.corrupt, f"image does not decode: {exc}") from None
    if rotation in (90, 270):
        width, height = height, width
    return ProbeResult(
        path=path,
        media_type=MediaType.image,
        format=fmt,
        codec=fmt,
        size_bytes=size,
        width=width,
        height=height,
        rotation=rotation,
        **meta,
    )


def _decode_cheaply(img: Image.Image) -> None:
    # A JPEG draft decodes at 1/8 scale: every byte is still read, so truncation shows.
    img.draft("RGB", (1, 1))
    img.load()


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1  # unreadable EXIF: the pixels still decode, show them as stored


def _image_metadata(img: Image.Image) -> dict[str, object]:
    try:
        return _embedded_metadata(img)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError):
        return {}  # malformed EXIF/IPTC must not cost the file its tags


def _embedded_metadata(img: Image.Image) -> dict[str, object]:
    exif = img.getexif()
    texts = {key.lower(): value for key, value in getattr(img, "text", {}).items()}
    iptc = IptcImagePlugin.getiptcinfo(img) or {}
    title = _first_text(_xp(exif.get(_EXIF_XP_TITLE)), texts.get("title"), iptc.get(_IPTC_TITLE))
    description = _first_text(
        exif.get(_EXIF_DESCRIPTION),
        _xp(exif.get(_EXIF_XP_COMMENT)),
        iptc.get(_IPTC_CAPTION),
        texts.get("description"),
        texts.get("comment"),
    )
    keywords = _split_keywords(
        _xp(exif.get(_EXIF_XP_KEYWORDS)), texts.get("keywords"), *_iptc_list(iptc, _IPTC_KEYWORDS)
    )
    return {"title": title, "description": description, "keywords": keywords}


def _xp(value: object) -> str | None:
    """Windows XP* EXIF tags hold UTF-16LE bytes."""
    if isinstance(value, tuple):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.decode("utf-16-le", "replace").rstrip("\x00")
    return value if isinstance(value, str) else None


def _iptc_list(iptc: dict, key: tuple[int, int]) -> list[object]:
    value = iptc.get(key)
    return value if isinstance(value, list) else [value]


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    return value.strip("\x00 \t\r\n") if isinstance(value, str) else ""


def _first_text(*values: object) -> str:
    return next((text for text in map(_as_text, values) if text), "")


def _split_keywords(*values: object) -> tuple[str, ...]:
    words = (w.strip() for v in values for w in re.split(r"[;,\n]", _as_text(v)))
    return tuple(dict.fromkeys(w for w in words if w))


# --- videos -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamInfo:
    """One stream as ffprobe or ffmpeg's report describes it."""

    kind: str  # video, audio, subtitle, data, attachment
    codec: str | None = None
    width: int = 0
    height: int = 0
    fps: float | None = None
    rotation: int = 0  # clockwise degrees
    cover_art: bool = False


@dataclass
class ContainerInfo:
    """A media file as ffprobe or ffmpeg's report describes it."""

    format_names: str  # the demuxer's names, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration_s: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    streams: list[StreamInfo] = field(default_factory=list)


@dataclass(frozen=True)
class _DecodeCheck:
    returncode: int
    frames: int
    report: str  # ffmpeg's stderr


def _probe_video(
    path: Path, size: int, head: bytes, family: str | None, settings: Settings
) -> ProbeResult:
    check = _decode_first_frame(path, settings)
    container = _read_container(path, check.report, settings)
    if container is None:
        known = family in VIDEO_FAMILIES  # a container we know that ffmpeg cannot open is broken
        reason = RejectReason.corrupt if known else RejectReason.unsupported_format
        raise MediaRejected.because(reason, _tool_says("ffmpeg cannot open it", check.report))
    video = next((s for s in container.streams if s.kind == "video" and not s.cover_art), None)
    if video is None:
        raise MediaRejected.because(RejectReason.no_video_stream, "the file has no video stream")
    fmt = _format_name(container, head)
    if fmt not in settings.video_formats:
        detail = f"{fmt} is not an accepted video format ({', '.join(settings.video_formats)})"
        raise MediaRejected.because(RejectReason.unsupported_format, detail)
    if over := pixels_over_limit(video.width, video.height, settings):  # limits: frames
        raise MediaRejected(SKIPPED, TOO_MANY_PIXELS, over)
    _require_decoded(check, video)
    width, height = video.width, video.height
    if video.rotation in (90, 270):
        width, height = height, width
    return ProbeResult(
        path=path,
        media_type=MediaType.video,
        format=fmt,
        codec=video.codec,
        size_bytes=size,
        width=width,
        height=height,
        rotation=video.rotation,
        duration_s=container.duration_s,
        fps=video.fps,
        **_container_metadata(container.tags),
    )


def _decode_first_frame(path: Path, settings: Settings) -> _DecodeCheck:
    """Decode one frame of the first real video stream; its stderr also describes the file."""
    args = [find_ffmpeg(settings.ffmpeg_binary), "-hide_banner", "-nostdin", "-nostats"]
    args += ["-i", input_url(path), "-map", "0:V:0", "-frames:v", "1", "-f", "framecrc", "-"]
    done = _run(args, settings)
    frames = sum(1 for line in done.stdout.splitlines() if line and not line.startswith(b"#"))
    return _DecodeCheck(done.returncode, frames, done.stderr.decode("utf-8", "replace"))


def _run(args: list[str], settings: Settings) -> subprocess.CompletedProcess[bytes]:
    try:
        return run_bounded(args, settings.ffmpeg_timeout_s)
    except subprocess.TimeoutExpired:
        detail = f"{Path(args[0]).name} ran past {settings.ffmpeg_timeout_s:g} s"
        raise MediaRejected.because(RejectReason.timeout, detail) from None


_NO_DECODER = re.compile(r"decoder.*not found|no decoder", re.I)


def _require_decoded(check: _DecodeCheck, video: StreamInfo) -> None:
    if check.frames > 0 and video.width and video.height:
        return
    if video.codec in (None, "none") or _NO_DECODER.search(check.report):
        detail = f"this ffmpeg build has no decoder for the video codec ({video.codec or '?'})"
        raise MediaRejected.because(RejectReason.unsupported_format, detail)
    raise MediaRejected.because(
        RejectReason.corrupt, _tool_says("no video frame decodes", check.report)
    )


def _tool_says(summary: str, report: str) -> str:
    """`summary` and the last things ffmpeg complained about, without the file dump."""
    said = [_CONTEXT.sub("", line).strip() for line in report.splitlines()]
    said = [line for line in said if line and not line.startswith(_NOISE)]
    last = list(dict.fromkeys(said))[-_DETAIL_LINES:]
    return f"{summary}: {' | '.join(last)}"[:_DETAIL_CHARS] if last else summary


_CONTEXT = re.compile(r"^(?:\[[^\]]*\]\s*)+")  # "[in#0 @ 0x55...] " and the like
_NOISE = (" ", "Error opening input file", "Input #", "Stream mapping", "Press [q]")


def _read_container(path: Path, report: str, settings: Settings) -> ContainerInfo | None:
    ffprobe = find_ffprobe() if settings.use_ffprobe else None
    if ffprobe is None:
        return parse_ffmpeg_report(report)
    args = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    done = _run([*args, input_url(path)], settings)
    try:
        data = json.loads(done.stdout.decode("utf-8", "replace"))
    except ValueError:
        return None
    return parse_ffprobe_json(data) if done.returncode == 0 else None


_BRAND_FORMATS = {
    "qt": "mov",
    "m4v": "m4v",
    "m4vh": "m4v",
    "m4vp": "m4v",
    "m4a": "m4a",
    "m4b": "m4a",
    "avif": "avif",
    "avis": "avif",
    "heic": "heic",
    "heix": "heic",
    "mif1": "heif",
    "msf1": "heif",
}


def _format_name(container: ContainerInfo, head: bytes) -> str:
    """A short container name users know: mp4, mov, m4v, webm, mkv, avi, ..."""
    names = container.format_names.split(",")
    if "mp4" in names:
        if head[4:8] != b"ftyp":
            return "mov"  # QuickTime files from before the ftyp box
        brand = head[8:12].decode("latin-1").strip().lower()
        return _BRAND_FORMATS.get(brand, "3gp" if brand.startswith("3g") else "mp4")
    if "matroska" in names:
        return "webm" if b"webm" in head else "mkv"
    return names[0]


def _container_metadata(tags: dict[str, str]) -> dict[str, object]:
    return {
        "title": _first_text(tags.get("title")),
        "description": _first_text(
            tags.get("description"), tags.get("comment"), tags.get("synopsis")
        ),
        "keywords": _split_keywords(tags.get("keywords"), tags.get("com.apple.quicktime.keywords")),
    }


# --- ffprobe JSON -----------------------------------------------------------------------


def parse_ffprobe_json(data: dict) -> ContainerInfo:
    """The container as `ffprobe -show_format -show_streams -print_format json` describes it."""
    fmt = data.get("format") or {}
    return ContainerInfo(
        format_names=str(fmt.get("format_name", "")),
        duration_s=_number(fmt.get("duration")),
        tags=_lower_keys(fmt.get("tags") or {}),
        streams=[_ffprobe_stream(s) for s in data.get("streams") or []],
    )


def _ffprobe_stream(data: dict) -> StreamInfo:
    side_rotation = next(
        (sd["rotation"] for sd in data.get("side_data_list") or [] if "rotation" in sd), None
    )
    tag_rotation = (data.get("tags") or {}).get("rotate")
    return StreamInfo(
        kind=str(data.get("codec_type", "")),
        codec=data.get("codec_name"),
        width=int(data.get("width") or 0),
        height=int(data.get("height") or 0),
        fps=_fraction(data.get("avg_frame_rate")) or _fraction(data.get("r_frame_rate")),
        rotation=_clockwise(side_rotation, tag_rotation),
        cover_art=bool((data.get("disposition") or {}).get("attached_pic")),
    )


def _fraction(text: object) -> float | None:
    num, _, den = str(text or "").partition("/")
    value = _number(num)
    divisor = _number(den) if den else 1.0
    return value / divisor if value and divisor else None


def _number(text: object) -> float | None:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _lower_keys(tags: dict) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in tags.items()}


def _clockwise(display_matrix: object, rotate_tag: object) -> int:
    """Clockwise display rotation.

    ffmpeg prints a display matrix's rotation counter-clockwise; the legacy `rotate` tag is
    clockwise.
    """
    matrix = _number(display_matrix)
    if matrix is not None:
        return round(-matrix) % 360
    tag = _number(rotate_tag)
    return round(tag) % 360 if tag is not None else 0


# --- ffmpeg's own report ----------------------------------------------------------------

_INPUT = re.compile(r"^Input #0, (?P<names>.+?), from ")
_DURATION = re.compile(r"Duration: (?:(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)|N/A)")
_STREAM = re.compile(r"^\s+Stream #\d+:\d+\S*: (?P<kind>\w+): (?P<rest>.*)$")
_SECTION = re.compile(r"^\s+(?:Chapter #|Program \d|Chapters:|Stream group)")
_CONTINUED = re.compile(r"^\s+: (?P<value>.*)$")
_KEY_VALUE = re.compile(r"^\s+(?P<key>\S.*?)\s*: (?P<value>.*)$")
_DIMENSIONS = re.compile(r"(?<![\w/])(?P<w>[1-9]\d*)x(?P<h>[1-9]\d*)(?!\w)")
_RATE = r"(?P<rate>\d+(?:\.\d+)?)(?P<k>k?) "
_ROTATION = re.compile(r"rotation of (?P<deg>-?\d+(?:\.\d+)?) degrees", re.I)


@dataclass
class _ReportState:
    container: ContainerInfo
    owner: str = "format"  # format | stream | other: whose Metadata lines follow
    stream: dict = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    last_key: str | None = None
    streams: list[dict] = field(default_factory=list)


def parse_ffmpeg_report(report: str) -> ContainerInfo | None:
    """The input described in the stderr of `ffmpeg -i FILE`; None when it did not open."""
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if _INPUT.match(line)), None)
    if start is None:
        return None
    state = _ReportState(ContainerInfo(_INPUT.match(lines[start])["names"]))
    for line in lines[start + 1 :]:
        if line.startswith(("Output #", "Stream mapping:", "Input #")):
            break
        if line.startswith((" ", "\t")):
            _report_line(state, line)
    state.container.streams = [_report_stream(s) for s in state.streams]
    return state.container


def _report_line(state: _ReportState, line: str) -> None:
    if stream := _STREAM.match(line):
        state.stream = {"kind": stream["kind"].lower(), "rest": stream["rest"], "tags": {}}
        state.streams.append(state.stream)
        state.owner, state.meta = "stream", state.stream["tags"]
    elif _SECTION.match(line):
        state.owner, state.meta = "other", {}
    elif duration := _DURATION.match(line.strip()):
        state.container.duration_s = _hms(duration)
    elif line.strip() in ("Metadata:", "Side data:"):
        state.meta = state.container.tags if state.owner == "format" else state.meta
        state.last_key = None
    elif state.owner == "stream" and (rotation := _ROTATION.search(line)):
        state.stream["matrix"] = rotation["deg"]
    elif continued := _CONTINUED.match(line):
        if state.last_key is not None:
            state.meta[state.last_key] += "\n" + continued["value"]
    elif pair := _KEY_VALUE.match(line):
        state.last_key = pair["key"].lower()
        state.meta.setdefault(state.last_key, pair["value"])


def _hms(match: re.Match[str]) -> float | None:
    if match["h"] is None:
        return None
    return int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])


def _report_stream(raw: dict) -> StreamInfo:
    rest: str = raw["rest"]
    codec = re.match(r"[\w-]+", rest)
    dims = _DIMENSIONS.search(rest)
    return StreamInfo(
        kind=raw["kind"],
        codec=codec[0] if codec else None,
        width=int(dims["w"]) if dims else 0,
        height=int(dims["h"]) if dims else 0,
        fps=_report_rate(rest, "fps") or _report_rate(rest, "tbr"),
        rotation=_clockwise(raw.get("matrix"), raw["tags"].get("rotate")),
        cover_art="(attached pic)" in rest,
    )


def _report_rate(rest: str, unit: str) -> float | None:
    found = re.search(_RATE + unit + r"\b", rest)
    if found is None:
        return None
    return float(found["rate"]) * (1000 if found["k"] else 1)
