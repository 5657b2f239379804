"""What of an asset is searchable: its analyzed metadata fields and its effective tags.

The indexed form keeps machine tags below threshold (thresholds apply at query time, so a
threshold change needs no reindex) but never removed tags. A manual or promoted tag takes the
kind of the machine tag of the same name, or `custom` when the asset has none.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from catalog.analysis import analyze_unique, tag_tokens
from catalog.asset import Asset, TagKind

META_FIELDS = ("title", "keywords", "file_name", "description")
_KIND_NAME = {kind: kind.value for kind in TagKind}  # Enum.value is a slow property


class TagSource(StrEnum):
    machine = "machine"
    manual = "manual"
    promoted = "promoted"


# a NamedTuple, not a frozen dataclass: built ~20 times per asset on every write and search hit
class IndexedTag(NamedTuple):
    tag: str
    kind: str
    source: TagSource
    confidence: float  # the machine confidence; 1.0 for manual and promoted tags
    weight: float  # confidence quantised (machine) -- manual/promoted weights apply at query time
    tokens: tuple[str, ...]


def terms_field(field: str) -> str:
    """The OpenSearch field holding a metadata field's analyzed tokens (mappings/assets.json)."""
    return f"{field}_terms"


def quantize(value: float, quantum: int) -> float:
    """Scores are sums of multiples of 1/quantum, exact in float32 and float64 alike."""
    return round(value * quantum) / quantum


def meta_tokens(asset: Asset) -> dict[str, list[str]]:
    return {
        "title": analyze_unique(asset.title),
        "keywords": analyze_unique(" ".join(asset.keywords)),
        "file_name": analyze_unique(asset.file_name),
        "description": analyze_unique(asset.description),
    }


def indexed_tags(
    asset: Asset, quantum: int, terms: tuple[str, ...] | None = None
) -> list[IndexedTag]:
    """The asset's tags as the index holds them; with `terms`, only those holding one of them
    (a hit's matched tags need no others)."""
    removed = set(asset.removed_tags)
    wanted = None if terms is None else set(terms)
    machine = TagSource.machine  # looked up once: an enum member lookup is not free
    tags: list[IndexedTag] = []
    for t in asset.smart_tags:
        tokens = tag_tokens(t.tag)
        if t.tag in removed or not tokens or (wanted is not None and wanted.isdisjoint(tokens)):
            continue
        kind = _KIND_NAME[t.kind]
        tags.append(
            IndexedTag(t.tag, kind, machine, t.confidence, quantize(t.confidence, quantum), tokens)
        )
    machine_kind = {t.tag: _KIND_NAME[t.kind] for t in asset.smart_tags}
    for source, names in (
        (TagSource.manual, asset.manual_tags),
        (TagSource.promoted, asset.promoted_tags),
    ):
        for name in names:
            tokens = tag_tokens(name)
            if name in removed or not tokens or (wanted is not None and wanted.isdisjoint(tokens)):
                continue
            kind = machine_kind.get(name, "custom")
            tags.append(IndexedTag(name, kind, source, 1.0, 1.0, tokens))
    return tags
