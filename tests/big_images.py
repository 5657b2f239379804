"""Huge images that cost almost nothing to write: a PNG of one grey level, its rows
compressed as a stream, so a test can hold a 169-megapixel file of a few hundred KB."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

_ROWS_PER_CHUNK = 256


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def flat_png(path: Path, width: int, height: int, rgb: bool = False, level: int = 128) -> Path:
    """A width x height PNG of one grey level (8-bit grey, or RGB)."""
    channels = 3 if rgb else 1
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    row = b"\x00" + bytes([level]) * (width * channels)  # filter byte, then the pixels
    packer = zlib.compressobj(9)
    compressed = bytearray()
    for start in range(0, height, _ROWS_PER_CHUNK):
        compressed += packer.compress(row * min(_ROWS_PER_CHUNK, height - start))
    compressed += packer.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", bytes(compressed))
        + _chunk(b"IEND", b"")
    )
    return path
