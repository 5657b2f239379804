"""`smarttags search`'s semantic side: the query encoder for the caller's process, and search
by example. The encoder is the API's (indexer/query_encoder.py: ONNX Runtime, no torch), so
the CLI and the server rank the same query the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog.asset import MediaType
from catalog.encoders import EncoderUnavailable, UnreadableImage
from catalog.media_sniff import HEAD_BYTES, media_type_of, sniff
from query.plan import SearchMode, SearchRequest
from query.service import NotIndexed, by_image, search, similar
from smarttags.cli_support import EXIT_SETUP, EXIT_USAGE, AppContext, fail, warn_if_empty


def run_search(
    app: AppContext, request: SearchRequest, like: str | None, like_file: Path | None
) -> dict[str, Any]:
    """The result `smarttags search` prints; exits with one line on what it cannot do."""
    settings = app.settings
    store = app.open_store()
    try:
        result = _result(store, settings, request, like, like_file)
        if not result["hits"]:
            warn_if_empty(store)
        return result
    finally:
        store.close()


def _result(store, settings, request, like, like_file) -> dict[str, Any]:
    from indexer.query_encoder import LightQueryEncoder

    if like:
        return _like_asset(store, like, request, settings)
    encoder = LightQueryEncoder(settings)
    if like_file:
        return _like_file(store, like_file, request, settings, encoder)
    wants_meaning = request.mode is not SearchMode.keyword and request.text.strip()
    return search(store, request, settings, encoder=encoder if wants_meaning else None)


def _like_asset(store, asset_id: str, request: SearchRequest, settings) -> dict[str, Any]:
    try:
        return similar(store, asset_id, request, settings)
    except NotIndexed as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyError:
        fail(f"no asset with id {asset_id!r}", EXIT_USAGE)
    raise AssertionError("unreachable")


def _like_file(store, path: Path, request, settings, encoder) -> dict[str, Any]:
    with open(path, "rb") as handle:
        kind = media_type_of(sniff(handle.read(HEAD_BYTES)))
    if kind is MediaType.video:
        fail(
            f"{path} is a video: search like a picture, or like an indexed video with "
            "--like ASSET_ID",
            EXIT_USAGE,
        )
    try:
        return by_image(store, path, request, settings, encoder)
    except UnreadableImage as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)
    except EncoderUnavailable as exc:
        fail(str(exc), EXIT_SETUP)
    raise AssertionError("unreachable")
