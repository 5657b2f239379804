"""The API app as `smarttags serve` runs it: the query layer's app with the torch-free query
encoder injected (indexer/query_encoder.py), so that it searches by meaning too."""

from __future__ import annotations

from typing import Any

from catalog.settings import Settings, get_settings
from indexer.query_encoder import LightQueryEncoder
from query import api, server


def create_app(settings: Settings | None = None) -> Any:
    """The app of one API process (also uvicorn's factory for worker processes)."""
    settings = settings or get_settings()
    app = api.create_app(settings, encoder=LightQueryEncoder(settings))
    server.freeze_heap()
    return app
