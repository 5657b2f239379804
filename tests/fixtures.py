"""Small asset builders for tests: the import line format, with defaults filled in."""

from __future__ import annotations

from catalog.asset import Asset

_clock = iter(range(10_000))


def tag(name: str, confidence: float, kind: str = "object", segments=None) -> dict:
    return {"tag": name, "kind": kind, "confidence": confidence, "segments": segments or []}


def asset(asset_id: str, path: str | None = None, **fields) -> Asset:
    """An asset; created_at increases with each call so browse order is predictable."""
    tick = next(_clock)
    data = {
        "id": asset_id,
        "path": path or f"lib/{asset_id}.jpg",
        "media_type": "video" if (path or "").endswith((".mp4", ".mov")) else "image",
        "created_at": f"2026-01-01T00:{tick // 60 % 60:02d}:{tick % 60:02d}Z",
        **fields,
    }
    return Asset.model_validate(data)
