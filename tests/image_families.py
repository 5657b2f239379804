"""Visually distinct families of generated images: learnable data without real model weights.

Each family has its own look (shapes, colours, textures, photographs) and varies within it
(position, size, period, crop, flip, colour jitter, image size), so a classifier on embeddings
of even a tiny random CLIP model can tell the families apart while still having to generalise.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

Generator = Callable[[np.random.Generator, int], Image.Image]


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], spread: int = 25) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in rgb)


def red_circles(rng: np.random.Generator, size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), _jitter(rng, (235, 235, 225)))
    draw = ImageDraw.Draw(img)
    radius = size * rng.uniform(0.25, 0.4)
    cx, cy = rng.uniform(radius, size - radius, 2)
    draw.ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), fill=_jitter(rng, (210, 30, 30))
    )
    return img


def blue_stripes(rng: np.random.Generator, size: int) -> Image.Image:
    period = rng.uniform(0.12, 0.25) * size
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:size, 0:size]
    wave = (x * np.cos(angle) + y * np.sin(angle)) / period
    mask = (wave % 1.0) < 0.5
    blue, white = np.array(_jitter(rng, (30, 60, 200))), np.array(_jitter(rng, (240, 240, 250)))
    return Image.fromarray(np.where(mask[..., None], blue, white).astype(np.uint8))


def checkerboard(rng: np.random.Generator, size: int) -> Image.Image:
    cell = max(2, int(size * rng.uniform(0.08, 0.2)))
    y, x = np.mgrid[0:size, 0:size]
    mask = ((x // cell + y // cell) % 2).astype(bool)
    dark, light = np.array(_jitter(rng, (20, 20, 20))), np.array(_jitter(rng, (230, 200, 60)))
    return Image.fromarray(np.where(mask[..., None], dark, light).astype(np.uint8))


def green_noise(rng: np.random.Generator, size: int) -> Image.Image:
    base = np.array(_jitter(rng, (40, 160, 60)), dtype=np.float32)
    noise = rng.normal(0, 45, (size, size, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


@cache
def _photo(name: str) -> np.ndarray:
    from skimage import data

    return getattr(data, name)()


def _photo_family(name: str) -> Generator:
    def generate(rng: np.random.Generator, size: int) -> Image.Image:
        photo = _photo(name)
        height, width = photo.shape[:2]
        side = int(min(height, width) * rng.uniform(0.6, 0.9))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = photo[top : top + side, left : left + side].astype(np.float32)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = crop * rng.uniform(0.85, 1.15, 3) + rng.uniform(-15, 15)
        img = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8))
        return img.resize((size, size), Image.Resampling.BICUBIC)

    return generate


FAMILIES: dict[str, Generator] = {
    "red_circles": red_circles,
    "blue_stripes": blue_stripes,
    "checkerboard": checkerboard,
    "green_noise": green_noise,
    "coffee": _photo_family("coffee"),
    "astronaut": _photo_family("astronaut"),
    "chelsea": _photo_family("chelsea"),
}


def write_family(
    folder: Path,
    family: str,
    count: int,
    seed: int,
    sizes: tuple[int, int] = (64, 128),
    large: int = 0,
    large_px: int = 560,
) -> list[Path]:
    """`count` PNGs of one family under `folder`; the first `large` of them are large_px wide."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        size = large_px if i < large else int(rng.integers(sizes[0], sizes[1] + 1))
        path = folder / f"img-{i:03d}.png"  # a neutral name: search must not match it
        FAMILIES[family](rng, size).save(path)
        paths.append(path)
    return paths
