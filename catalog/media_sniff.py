"""What a file is, by its first bytes: the families of the formats the indexer tags.

Shared by the API (an upload that is not media is refused before it enters the library) and
the indexer's probe (which then opens the file for real). No decoding here: the API process
stays light.
"""

from __future__ import annotations

from catalog.asset import MediaType

HEAD_BYTES = 64  # enough for every signature below
IMAGE_FAMILIES = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp"})
VIDEO_FAMILIES = frozenset({"isobmff", "matroska", "avi"})
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_ISOBMFF_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"})


def sniff(head: bytes) -> str | None:
    """The file family that the first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF":
        return {b"WEBP": "webp", b"AVI ": "avi"}.get(head[8:12])
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if head[4:8] in _ISOBMFF_BOXES:
        return "isobmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    return None


def media_type_of(family: str | None) -> MediaType | None:
    """Image or video for a family we tag; None for anything else."""
    if family in IMAGE_FAMILIES:
        return MediaType.image
    if family in VIDEO_FAMILIES:
        return MediaType.video
    return None
