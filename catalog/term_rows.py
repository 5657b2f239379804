"""What the embedded store's term index holds of one asset, derived once at write time.

- metadata terms: each analyzed token of the metadata with a bit mask of the fields that hold
  it (field weights are applied at query time);
- tag postings: per (token, channel), the best confidence of the tags holding the token. A
  channel is a (source, kind) pair: machine tags keep their confidence, because thresholds
  apply at query time; manual and promoted tags have no confidence of their own (1.0), their
  weight is the query's.

Removed tags are never indexed (catalog/effective.py decides what is searchable). The form is
flat (space-joined tokens, byte strings) because import workers send it between processes.
"""

from __future__ import annotations

import json
from array import array
from typing import NamedTuple

from catalog.asset import Asset, TagKind
from catalog.effective import META_FIELDS, TagSource, indexed_tags, meta_tokens

SOURCES = (TagSource.machine.value, TagSource.manual.value, TagSource.promoted.value)
KINDS = tuple(kind.value for kind in TagKind)
# every (source, kind) pair, numbered: the channel number is what the index stores
CHANNELS: tuple[tuple[str, str], ...] = tuple((s, k) for s in SOURCES for k in KINDS)
CHANNEL_OF = {pair: number for number, pair in enumerate(CHANNELS)}
FIELD_BIT = {field: 1 << i for i, field in enumerate(META_FIELDS)}
TOKEN_SEPARATOR = " "  # analyzed tokens are runs of letters and digits
_MACHINE = TagSource.machine


class AssetTerms(NamedTuple):
    meta_tokens: str  # the distinct metadata tokens, space-joined
    meta_fields: bytes  # per metadata token: bit mask of the fields holding it (FIELD_BIT)
    tag_tokens: str  # per (token, channel) with a tag: the token, space-joined
    tag_channels: bytes  # ... its channel (CHANNELS)
    tag_confidences: bytes  # ... the best confidence there, float64 (array "d")
    machine_tags: str  # JSON array of the names of the indexed machine tags (for stats)

    def meta(self) -> dict[str, int]:
        if not self.meta_tokens:
            return {}
        return dict(zip(self.meta_tokens.split(TOKEN_SEPARATOR), self.meta_fields, strict=True))

    def tags(self) -> dict[tuple[str, int], float]:
        if not self.tag_tokens:
            return {}
        tokens = self.tag_tokens.split(TOKEN_SEPARATOR)
        keys = zip(tokens, self.tag_channels, strict=True)
        return dict(zip(keys, array("d", self.tag_confidences), strict=True))


def asset_terms(asset: Asset, quantum: int) -> AssetTerms:
    meta: dict[str, int] = {}
    for field, tokens in meta_tokens(asset).items():
        bit = FIELD_BIT[field]
        for token in tokens:
            meta[token] = meta.get(token, 0) | bit
    tags: dict[tuple[str, int], float] = {}
    machine: list[str] = []
    for tag in indexed_tags(asset, quantum):
        if tag.source is _MACHINE:
            machine.append(tag.tag)
        # TagSource is a str enum: it finds the plain-string key
        channel = CHANNEL_OF[(tag.source, tag.kind)]
        confidence = tag.confidence
        for token in tag.tokens:
            key = (token, channel)
            if confidence > tags.get(key, -1.0):
                tags[key] = confidence
    return AssetTerms(
        TOKEN_SEPARATOR.join(meta),
        bytes(meta.values()),
        TOKEN_SEPARATOR.join(token for token, _ in tags),
        bytes(channel for _, channel in tags),
        array("d", tags.values()).tobytes(),
        json.dumps(machine, ensure_ascii=False),
    )
