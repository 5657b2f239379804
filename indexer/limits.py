"""Bounds on what one file may cost the indexer, and the skip reasons they give.

Called by the probe before any pixel is decoded (indexer/probe.py), and by the scan and the
pipeline for files that leave the library or vanish (indexer/scan.py, indexer/pipeline.py).

- Pixels: an image, or a video's frame, over `max_image_megapixels` is skipped with
  `too_many_pixels`, from its header alone. Decoding costs 3-4 bytes a pixel and more during
  conversion, so this bound is what keeps a worker's memory bounded (a 530 KB PNG can
  declare 13,000 x 13,000 pixels: 2.8 GB decoded).
- Decoding: frames and posters are cut down while the image is still in its decoded mode
  (`decode_upright`): a JPEG decodes at a fraction of its size, anything else is reduced
  right after decoding, before rotation and RGB conversion make copies at full size.
- Pages: an animated or multi-page image (GIF, WebP, TIFF) is tagged from its first page; no
  other page is ever decoded, so the page count costs nothing.
- Pillow's own bomb check (`Image.MAX_IMAGE_PIXELS`) stays as a second net; its warning
  below that is silenced, since the bound above is checked first and says more.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from PIL import Image

from catalog.asset import AssetStatus
from catalog.settings import Settings

TOO_MANY_PIXELS = "too_many_pixels"
OUTSIDE_LIBRARY = "outside_library"
MISSING_FILE = "missing_file"
SKIPPED = AssetStatus.skipped
_MEGA = 1_000_000
_EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_REDUCIBLE = ("RGB", "L")  # Pillow reduces these in place of mode; others it converts first

warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def pixels_over_limit(width: int, height: int, settings: Settings) -> str | None:
    """Why `width` x `height` is too many pixels to decode, or None."""
    limit = settings.max_image_megapixels
    if width * height <= limit * _MEGA:
        return None
    return (
        f"{width} x {height} is {width * height / _MEGA:.1f} megapixels, over the "
        f"{limit:g} limit (SMARTTAGS_MAX_IMAGE_MEGAPIXELS)"
    )


def outside_library(target: object, root: object) -> str:
    return f"a link to {target}, outside the library root {root}"


def vanished(exc: FileNotFoundError) -> str:
    return f"the file was removed before it could be processed ({exc.strerror or exc})"


def decode_upright(
    path: Path, shorter: int | None = None, longer: int | None = None
) -> Image.Image:
    """The image's first page as upright RGB, its shorter side still at least `shorter` (or
    its longer side at least `longer`), never holding more than one full-size copy."""
    with Image.open(path) as img:
        orientation = _orientation(img)
        want = shorter or longer or 1
        img.draft("RGB", (want, want))  # JPEG: decode at the smallest scale still >= want
        img.load()
        side = min(img.size) if shorter else max(img.size)
        picture = _reduced(img, max(1, side // want))
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        picture = picture.transpose(method)
    return picture if picture.mode == "RGB" else picture.convert("RGB")


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1  # unreadable EXIF: show the pixels as stored


def _reduced(img: Image.Image, factor: int) -> Image.Image:
    if factor <= 1:
        return img.copy()
    if img.mode in _REDUCIBLE:
        return img.reduce(factor)
    # alpha and palette modes: Pillow would convert at full size before filtering; a nearest
    # step to twice the wanted size keeps every copy small (the caller filters the rest)
    step = max(1, factor // 2)
    size = (max(1, math.ceil(img.width / step)), max(1, math.ceil(img.height / step)))
    return img.resize(size, Image.Resampling.NEAREST)
