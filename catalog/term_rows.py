"""What the embedded store's term index holds of one asset, derived once at write time.

- metadata terms: each analyzed token of the metadata with a bit mask of the fields that hold
  it (field weights are applied at query time);
- tag postings: per (token, channel), the best confidence of the tags holding the token. A
  channel is a (source, kind) pair: machine tags keep their confidence, because thresholds
  apply at query time; manual and promoted tags have no confidence of their own (1.0), their
  weight is the query's.

Removed tags are never indexed (catalog/effective.py decides what is searchable).
"""

from __future__ import annotations

from typing import NamedTuple

from catalog.asset import Asset, TagKind
from catalog.effective import META_FIELDS, TagSource, indexed_tags, meta_tokens

SOURCES = (TagSource.machine.value, TagSource.manual.value, TagSource.promoted.value)
KINDS = tuple(kind.value for kind in TagKind)
# every (source, kind) pair, numbered: the channel number is what the index stores
CHANNELS: tuple[tuple[str, str], ...] = tuple((s, k) for s in SOURCES for k in KINDS)
CHANNEL_OF = {pair: number for number, pair in enumerate(CHANNELS)}
FIELD_BIT = {field: 1 << i for i, field in enumerate(META_FIELDS)}


class AssetTerms(NamedTuple):
    meta: dict[str, int]  # token -> bit mask of the metadata fields holding it
    tags: dict[tuple[str, int], float]  # (token, channel) -> best confidence
    machine_tags: list[str]  # names of the indexed machine tags (for stats)


def asset_terms(asset: Asset, quantum: int) -> AssetTerms:
    meta: dict[str, int] = {}
    for field, tokens in meta_tokens(asset).items():
        bit = FIELD_BIT[field]
        for token in tokens:
            meta[token] = meta.get(token, 0) | bit
    tags: dict[tuple[str, int], float] = {}
    machine: list[str] = []
    for tag in indexed_tags(asset, quantum):
        if tag.source is TagSource.machine:
            machine.append(tag.tag)
        channel = CHANNEL_OF[(tag.source.value, tag.kind)]
        for token in tag.tokens:
            key = (token, channel)
            if tag.confidence > tags.get(key, -1.0):
                tags[key] = tag.confidence
    return AssetTerms(meta, tags, machine)
