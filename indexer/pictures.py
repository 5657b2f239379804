"""A decoded picture as the image tower's input: CLIP's centre square, shared by the indexer's
frames (indexer/frames.py) and the query encoder's example pictures (indexer/query_encoder.py),
so that an indexed image and the same file sent as a query give the same pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps


def square_rgb(upright: Image.Image, size: int) -> np.ndarray:
    """The centre square of an image, scaled to size x size like CLIP's preprocessing."""
    square = ImageOps.fit(upright, (size, size), method=Image.Resampling.BICUBIC)
    return np.array(square, dtype=np.uint8)


def decode_size(size: int, thumbnail_px: int) -> int:
    """How large an image is decoded for its frame: the poster is made from the same decode."""
    return max(size, thumbnail_px)
