"""OpenSearch index mappings and OpenSearch Dashboards saved objects, shipped as package data."""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any


def resource(name: str) -> Traversable:
    """A file of this package (e.g. "assets.json"), wherever the package is installed."""
    return files(__name__) / name


def load_json(name: str) -> dict[str, Any]:
    return json.loads(resource(name).read_text(encoding="utf-8"))
