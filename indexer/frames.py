"""Frames for the tagger: a few well-chosen frames per video, scaled and cropped like CLIP.

Videos are decoded by ffmpeg (through ffmpeg-python), which scales each chosen frame so its
shorter side is `size`, centre-crops it to a square and writes raw RGB to a pipe. Each frame's
time comes from the `showinfo` filter on stderr, which a thread reads so ffmpeg never blocks.

Which frames (settings.frame_mode):
- "keyframes": only keyframes are decoded (`-skip_frame nokey`), which is cheap. Where two of
  them lie further apart than settings.max_frame_gap_s (a long static shot, a sparse GOP), a
  second ffmpeg seeks to the earlier keyframe and decodes just that stretch, skipping frames
  no other frame refers to, to add frames at even steps.
- "scene": every frame is decoded; a frame whose scene score passes settings.scene_threshold
  is taken, and so is one every max_frame_gap_s.
Both honour settings.max_frames_per_s (frames closer than that are dropped) and
settings.max_frames_per_video (frames are spread out over long videos, then cut off).
"""

from __future__ import annotations

import math
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from queue import Empty, Queue
from typing import NoReturn

import ffmpeg
import numpy as np
from PIL import Image

from catalog.asset import MediaType
from catalog.settings import Settings
from indexer.ffmpeg_tools import find_ffmpeg, input_url
from indexer.limits import decode_upright
from indexer.pictures import decode_size, square_rgb
from indexer.probe import MediaRejected, ProbeResult, RejectReason

_SEEK_NUDGE_S = 0.001  # seek just past a keyframe we already have, never to the one before it
_FILL_SLACK_SHARE = 0.1  # fill targets sit this much closer than the gap: frames land late
_KEPT_ERROR_LINES = 5
_SHOWINFO = re.compile(r"\bn:\s*\d+\s+pts:\s*\S+\s+pts_time:(\S+)")
_ERROR_LINE = re.compile(r"\[(?:error|fatal|panic)\] ")


@dataclass(frozen=True, eq=False)
class Frame:
    timestamp_s: float
    rgb: np.ndarray  # (size, size, 3) uint8


def iter_frames(
    path: Path, probe_result: ProbeResult, settings: Settings, size: int
) -> Iterator[Frame]:
    """Frames of an image (one, at 0 s) or a video (in time order), each size x size RGB."""
    if probe_result.media_type is MediaType.image:
        yield image_frame(upright_image(Path(path), decode_size(size, settings.thumbnail_px)), size)
        return
    plan = _Plan.of(probe_result, settings, size)
    source = _Source(Path(path), find_ffmpeg(settings.ffmpeg_binary), settings)
    if settings.frame_mode == "scene":
        frames = _scene_frames(source, plan)
    else:
        frames = _keyframe_frames(source, plan)
    try:
        yield from islice(frames, plan.max_frames)
    finally:
        frames.close()


# --- images -----------------------------------------------------------------------------


def upright_image(path: Path, longest: int) -> Image.Image:
    """The image as displayed (EXIF orientation applied), in RGB, decoded once for both the
    frame and the poster: JPEGs at the smallest scale whose sides stay >= `longest`."""
    try:
        # limits: one full-size copy at most, whatever the image's pixel count
        return decode_upright(path, shorter=longest)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaRejected.because(RejectReason.corrupt, f"image does not decode: {exc}") from None


def image_frame(upright: Image.Image, size: int) -> Frame:
    """The centre square of an image, scaled to size x size like CLIP's preprocessing."""
    return Frame(0.0, square_rgb(upright, size))


# --- the plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    size: int
    min_interval_s: float  # the rate cap: no two frames closer than this
    max_gap_s: float  # the sampling floor: no two frames further apart than this
    max_frames: int
    duration_s: float | None
    frame_s: float  # one frame's duration; 0 when the rate is unknown
    scene_threshold: float
    scaler: str

    @classmethod
    def of(cls, probe_result: ProbeResult, settings: Settings, size: int) -> _Plan:
        duration = probe_result.duration_s
        spread = duration / settings.max_frames_per_video if duration else 0.0
        min_interval = max(1.0 / settings.max_frames_per_s, spread)
        return cls(
            size=size,
            min_interval_s=min_interval,
            max_gap_s=max(settings.max_frame_gap_s, min_interval),
            max_frames=settings.max_frames_per_video,
            duration_s=duration,
            frame_s=1.0 / probe_result.fps if probe_result.fps else 0.0,
            scene_threshold=settings.scene_threshold,
            scaler=settings.frame_scaler,
        )

    def needs_fill(self, start: float, end: float) -> bool:
        return end - start > self.max_gap_s + self.frame_s  # a frame's slack: sparse GOPs

    def fill_targets(self, start: float, end: float) -> list[float]:
        """Even steps between start and end that keep gaps within max_gap_s.

        Where that would break the rate cap, the cap wins.
        """
        slack = max(self.frame_s, self.max_gap_s * _FILL_SLACK_SHARE)
        step_limit = max(self.max_gap_s - slack, self.min_interval_s)
        span = end - start
        steps = min(math.ceil(span / step_limit), math.floor(span / self.min_interval_s))
        return [start + span * i / steps for i in range(1, steps)]


@dataclass(frozen=True)
class _Source:
    """The video being decoded; graphs name it by the placeholder `INPUT`.

    ffmpeg-python hashes its arguments as UTF-8, which a non-UTF-8 file name cannot be, so
    the real name goes into the compiled command line instead of into the graph.
    """

    path: Path
    ffmpeg: str
    settings: Settings
    INPUT = "file:smarttags-input"

    def stream(self, graph: ffmpeg.nodes.FilterableStream, plan: _Plan) -> _FrameStream:
        square = (
            graph.filter("scale", *_short_side_to(plan.size), flags=plan.scaler)
            .filter("crop", plan.size, plan.size)
            .filter("showinfo")
        )
        return self.raw(square, plan.size)

    def raw(self, graph: ffmpeg.nodes.FilterableStream, size: int) -> _FrameStream:
        spec = graph.output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
        spec = spec.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info")
        real = input_url(self.path)
        args = [real if arg == self.INPUT else arg for arg in spec.compile(cmd=self.ffmpeg)]
        return _FrameStream(args, size, self.settings.decode_stall_timeout_s)


def _short_side_to(size: int) -> tuple[str, str]:
    """scale= width and height that bring the displayed shorter side to `size`."""
    wide = "gt(iw*sar,ih)"
    return (
        f"if({wide},ceil({size}*iw*sar/ih),{size})",
        f"if({wide},{size},ceil({size}*ih/(iw*sar)))",
    )


# --- keyframes mode ---------------------------------------------------------------------


def _keyframe_frames(source: _Source, plan: _Plan) -> Iterator[Frame]:
    first = f"isnan(prev_selected_t)+gte(t-prev_selected_t,{plan.min_interval_s})"
    video = ffmpeg.input(source.INPUT, skip_frame="nokey")["V:0"]
    graph = video.filter("select", f"eq(pict_type,I)*({first})")
    last: float | None = None
    errors: list[str] = []
    with source.stream(graph, plan) as keyframes:
        for frame in keyframes:
            yield from _filled(source, plan, 0.0 if last is None else last, frame, errors)
            yield frame
            last = frame.timestamp_s
        errors += keyframes.errors
    if last is None:
        _reject_corrupt(errors, "no keyframe decodes")
    if plan.duration_s is not None and plan.needs_fill(last, plan.duration_s):
        for filler in _fill(source, plan, last, plan.duration_s, errors):
            last = filler.timestamp_s
            yield filler
    _check_reached_end(plan, last, errors)


def _filled(
    source: _Source, plan: _Plan, last: float, frame: Frame, errors: list[str]
) -> Iterator[Frame]:
    if plan.needs_fill(last, frame.timestamp_s):
        yield from _fill(source, plan, last, frame.timestamp_s, errors)


def _fill(
    source: _Source, plan: _Plan, start: float, end: float, errors: list[str]
) -> Iterator[Frame]:
    """Frames strictly between start and end, decoded from the keyframe at or before start."""
    targets = plan.fill_targets(start, end)
    if not targets:
        return
    seek = start + _SEEK_NUDGE_S
    # One term per target: the first decoded frame at or after it (prev_t is NaN at first).
    expr = "+".join(f"(isnan(prev_t)+lt(prev_t,{t - seek}))*gte(t,{t - seek})" for t in targets)
    video = ffmpeg.input(source.INPUT, ss=seek, t=end - seek, skip_frame="noref")
    with source.stream(video["V:0"].filter("select", expr), plan) as fillers:
        for frame in islice(fillers, len(targets)):
            yield Frame(seek + frame.timestamp_s, frame.rgb)
        errors += fillers.errors


# --- scene mode -------------------------------------------------------------------------


def _scene_frames(source: _Source, plan: _Plan) -> Iterator[Frame]:
    since = "t-prev_selected_t"
    gap = max(plan.max_gap_s - plan.frame_s, plan.min_interval_s)
    wanted = f"gt(scene,{plan.scene_threshold})+gte({since},{gap})"
    expr = f"isnan(prev_selected_t)+gte({since},{plan.min_interval_s})*({wanted})"
    video = ffmpeg.input(source.INPUT)["V:0"]
    # Scene scores are computed on the small square: far cheaper, and as telling.
    graph = (
        video.filter("scale", *_short_side_to(plan.size), flags=plan.scaler)
        .filter("crop", plan.size, plan.size)
        .filter("select", expr)
        .filter("showinfo")
    )
    last: float | None = None
    with source.raw(graph, plan.size) as frames:
        for frame in frames:
            last = frame.timestamp_s
            yield frame
        errors = frames.errors
    if last is None:
        _reject_corrupt(errors, "no frame decodes")
    _check_reached_end(plan, last, errors)


# --- endings ----------------------------------------------------------------------------


def _reject_corrupt(errors: list[str], summary: str) -> NoReturn:
    said = list(dict.fromkeys(errors))[-_KEPT_ERROR_LINES:]
    detail = f"{summary}: {' | '.join(said)}" if said else summary
    raise MediaRejected.because(RejectReason.corrupt, detail)


def _check_reached_end(plan: _Plan, last: float, errors: list[str]) -> None:
    """A stream that logged errors and stopped well before its stated end is truncated."""
    if not errors or plan.duration_s is None:
        return
    if last < plan.duration_s - plan.max_gap_s - plan.frame_s:
        _reject_corrupt(errors, f"decoding stops at {last:.2f} s of {plan.duration_s:.2f} s")


# --- one ffmpeg process -----------------------------------------------------------------


class _FrameStream:
    """A running ffmpeg writing size x size RGB frames to stdout, their times to stderr.

    Use it as a context manager: leaving the block kills and reaps the process, whether the
    frames were all read or not.
    """

    def __init__(self, args: list[str], size: int, stall_s: float):
        self._args = args
        self._frame_bytes = size * size * 3
        self._shape = (size, size, 3)
        self._stall_s = stall_s
        self._times: Queue[float] = Queue()
        self._errors: deque[str] = deque(maxlen=_KEPT_ERROR_LINES)
        self._stalled = False

    @property
    def errors(self) -> list[str]:
        return list(self._errors)

    def __enter__(self) -> _FrameStream:
        self._proc = subprocess.Popen(
            self._args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._proc.stdout.close()
        self._reader.join()
        self._proc.stderr.close()

    def __iter__(self) -> Iterator[Frame]:
        last = 0.0
        while (data := self._read_frame()) is not None:
            last = self._next_time(last)
            yield Frame(last, np.frombuffer(data, dtype=np.uint8).reshape(self._shape))
        self._check_exit()

    def _read_frame(self) -> bytearray | None:
        buffer = bytearray(self._frame_bytes)
        view, got = memoryview(buffer), 0
        watchdog = threading.Timer(self._stall_s, self._stall)
        watchdog.start()
        try:
            while got < self._frame_bytes and (n := self._proc.stdout.readinto(view[got:])):
                got += n
        finally:
            watchdog.cancel()
        if self._stalled:
            detail = f"ffmpeg produced no frame for {self._stall_s:g} s"
            raise MediaRejected.because(RejectReason.timeout, detail)
        if 0 < got < self._frame_bytes:
            _reject_corrupt(self.errors, "ffmpeg stopped in the middle of a frame")
        return buffer if got else None

    def _next_time(self, previous: float) -> float:
        try:
            stamp = self._times.get(timeout=self._stall_s)
        except Empty:
            _reject_corrupt(self.errors, "a frame came without its timestamp")
        return previous if math.isnan(stamp) else stamp  # showinfo says NOPTS: keep order

    def _check_exit(self) -> None:
        try:
            code = self._proc.wait(timeout=self._stall_s)
        except subprocess.TimeoutExpired:
            detail = f"ffmpeg did not exit {self._stall_s:g} s after its last frame"
            raise MediaRejected.because(RejectReason.timeout, detail) from None
        self._reader.join(timeout=self._stall_s)
        if code != 0:
            _reject_corrupt(self.errors, f"ffmpeg failed (exit status {code})")

    def _stall(self) -> None:
        self._stalled = True
        self._proc.kill()

    def _read_stderr(self) -> None:
        for raw in iter(self._proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            if shown := _SHOWINFO.search(line):
                self._times.put(_float_or_nan(shown[1]))
            elif _ERROR_LINE.search(line):
                self._errors.append(_ERROR_LINE.split(line, maxsplit=1)[-1].strip())


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
