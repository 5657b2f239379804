"""What the embedded store's term index holds of one asset, derived once at write time.

- metadata terms: each analyzed token of the metadata with a bit mask of the fields that hold
  it (field weights are applied at query time);
- tag postings: per (token, channel), the best confidence of the tags holding the token, and
  that tag's name. A channel is a (source, kind) pair: machine tags keep their confidence,
  because thresholds apply at query time; manual and promoted tags have no confidence of
  their own (1.0), their weight is the query's.
- shadowed machine postings: the other machine tags of the asset holding the same token in
  the same channel, in that channel's shadow (`shadow_channel`). A learned threshold is per
  tag, so the best tag holding a token may fall below its own threshold while a weaker one
  passes its own: the search reads the shadows only when the query carries such thresholds.

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
MACHINE_CHANNELS = tuple(n for n, (source, _) in enumerate(CHANNELS) if source == "machine")
SHADOW_BASE = len(CHANNELS)  # shadow_channel(c) = SHADOW_BASE + c, for machine channels
CHANNEL_COUNT = SHADOW_BASE + len(MACHINE_CHANNELS)  # channel numbers the index stores
FIELD_BIT = {field: 1 << i for i, field in enumerate(META_FIELDS)}
TOKEN_SEPARATOR = " "  # analyzed tokens are runs of letters and digits
NAME_SEPARATOR = "\n"  # tag names hold no control character
_MACHINE = TagSource.machine


_SHADOW_OF = {channel: SHADOW_BASE + i for i, channel in enumerate(MACHINE_CHANNELS)}


def shadow_channel(channel: int) -> int:
    """Where the shadowed postings of a machine channel are stored."""
    return _SHADOW_OF[channel]


class AssetTerms(NamedTuple):
    meta_tokens: str  # the distinct metadata tokens, space-joined
    meta_fields: bytes  # per metadata token: bit mask of the fields holding it (FIELD_BIT)
    tag_tokens: str  # per tag posting (token, channel, tag): the token, space-joined
    tag_channels: bytes  # ... its channel (CHANNELS, or a shadow channel)
    tag_confidences: bytes  # ... the tag's confidence, float64 (array "d")
    machine_tags: str  # JSON array of the names of the indexed machine tags (for stats)
    tag_names: str = ""  # ... the tag's name, NAME_SEPARATOR-joined

    def meta(self) -> dict[str, int]:
        if not self.meta_tokens:
            return {}
        return dict(zip(self.meta_tokens.split(TOKEN_SEPARATOR), self.meta_fields, strict=True))

    def tags(self) -> dict[tuple[str, int, str], float]:
        """(token, channel, tag name) -> confidence, of every tag posting."""
        if not self.tag_tokens:
            return {}
        tokens = self.tag_tokens.split(TOKEN_SEPARATOR)
        names = self.tag_names.split(NAME_SEPARATOR)
        keys = zip(tokens, self.tag_channels, names, strict=True)
        return dict(zip(keys, array("d", self.tag_confidences), strict=True))


def asset_terms(asset: Asset, quantum: int) -> AssetTerms:
    meta: dict[str, int] = {}
    for field, tokens in meta_tokens(asset).items():
        bit = FIELD_BIT[field]
        for token in tokens:
            meta[token] = meta.get(token, 0) | bit
    best: dict[tuple[str, int], tuple[float, str]] = {}
    shadowed: list[tuple[str, int, float, str]] = []
    machine: list[str] = []
    for tag in indexed_tags(asset, quantum):
        is_machine = tag.source is _MACHINE
        if is_machine:
            machine.append(tag.tag)
        # TagSource is a str enum: it finds the plain-string key
        channel = CHANNEL_OF[(tag.source, tag.kind)]
        held = (tag.confidence, tag.tag)
        for token in tag.tokens:
            key = (token, channel)
            found = best.get(key)
            if found is None:
                best[key] = held
                continue
            # the stronger (then the first by name) holds the posting; a machine tag's
            # rival goes to the shadow channel, a curated one (weight 1.0 alike) is a repeat
            other = held
            if (-held[0], held[1]) < (-found[0], found[1]):
                best[key], other = held, found
            if is_machine:
                shadowed.append((token, _SHADOW_OF[channel], *other))
    postings = [(token, channel, conf, name) for (token, channel), (conf, name) in best.items()]
    postings += shadowed
    return AssetTerms(
        TOKEN_SEPARATOR.join(meta),
        bytes(meta.values()),
        TOKEN_SEPARATOR.join(p[0] for p in postings),
        bytes(p[1] for p in postings),
        array("d", (p[2] for p in postings)).tobytes(),
        json.dumps(machine, ensure_ascii=False),
        NAME_SEPARATOR.join(p[3] for p in postings),
    )
