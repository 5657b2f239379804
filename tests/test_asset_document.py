"""The asset document's checks, and the read-back path that skips them for stored documents."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from catalog.asset import Asset

RAW = {
    "path": "campaigns\\summer/./beach.mp4",
    "media_type": "video",
    "keywords": [" sea ", "sea", ""],
    "smart_tags": [
        {"tag": "Beach ", "kind": "object", "confidence": 0.4, "segments": [[0, 2]]},
        {"tag": "beach", "kind": "object", "confidence": 0.9, "segments": [[1, 3]]},
        {"tag": "running", "kind": "action", "confidence": 0.7},
    ],
}


def test_a_new_document_is_normalized_and_deduplicated():
    asset = Asset.model_validate(RAW)
    assert (asset.path, asset.folder, asset.file_name) == (
        "campaigns/summer/beach.mp4",
        "campaigns/summer",
        "beach.mp4",
    )
    assert asset.keywords == ["sea"]
    assert [(t.tag, t.confidence) for t in asset.smart_tags] == [("beach", 0.9), ("running", 0.7)]


@pytest.mark.parametrize("segment", [[3, 1], [-1, 2]])
def test_a_segment_out_of_order_or_negative_is_refused(segment):
    raw = {**RAW, "smart_tags": [{**RAW["smart_tags"][1], "segments": [segment]}]}
    with pytest.raises(ValidationError, match="0 <= start <= end"):
        Asset.model_validate(raw)


def test_a_stored_document_reads_back_equal_without_the_python_checks():
    asset = Asset.model_validate(RAW)
    stored = asset.model_dump_json()
    assert Asset.from_stored_json(stored) == Asset.model_validate_json(stored) == asset


def test_the_stored_read_trusts_what_it_reads():
    # what only the Python checks would catch passes the stored read as written: it is meant
    # for documents this program validated when it wrote them, never for input
    raw = {**RAW, "id": "a1", "path": "x/y.mp4", "smart_tags": [], "keywords": []}
    assert Asset.from_stored_json(json.dumps(raw)).folder == ""
    assert Asset.model_validate(raw).folder == "x"
