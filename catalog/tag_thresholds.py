"""Which machine tags count for search: the kind thresholds, and per-tag thresholds learned
from curation.

The indexer stores every candidate down to the storage floor; thresholds choose among them at
query time, in both backends alike, so changing either kind of threshold reprocesses nothing.

Evidence. A moderation is a verdict on the machine's candidate of that name on that asset:
- removed: a negative; promoted or manual (accepting a suggestion makes it manual): a positive;
- restored (or undone back to no curation): no verdict any more;
- a manual tag the machine never proposed is no evidence: there is no confidence to judge.
The audit log names the assets (the newest `tag_feedback_window` entries of the tag); each is
judged by its current overlay and its stored confidence, so re-tagging re-scores the evidence
and an import of curated assets counts once its moderations are logged.

Learning. With at least `tag_feedback_min` verdicts, the threshold is the lowest stored
confidence c such that the verdicts at or above c reach the target precision: the most recall
the evidence allows at that precision. When no c reaches it, the threshold goes one weight
quantum above the highest confidence judged, so none of those candidates counts any more.

When. A moderation recomputes its own tag in the request that made it (one audit query, at
most `tag_feedback_window` assets read): the curator sees the effect at once, and the cost is
bounded. A change of every confidence (a re-tag, a new calibration) recomputes all of them:
`smarttags tag-thresholds --recompute`, which re-tagging runs itself.

Where. In the store (a table; an index beside the alias), so every API process and worker
applies the same thresholds; each process keeps them for `tag_threshold_cache_s`.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.analysis import tag_tokens
from catalog.asset import Asset, TagKind, TagName, utc_now
from catalog.audit import TagState
from catalog.settings import Settings

if TYPE_CHECKING:  # the store interface names TagThreshold
    from catalog.store import AssetStore

Source = Literal["default", "learned"]
_VERDICT = {TagState.removed: False, TagState.manual: True, TagState.promoted: True}
_OVERLAYS = {
    "removed_tags": TagState.removed,
    "manual_tags": TagState.manual,
    "promoted_tags": TagState.promoted,
}


class TagThreshold(BaseModel):
    """What the store keeps of one tag's curation feedback."""

    model_config = ConfigDict(extra="forbid")

    tag: TagName
    kind: TagKind
    threshold: float | None = Field(default=None, ge=0.0)  # None: too few verdicts to learn
    positives: int = Field(default=0, ge=0)
    negatives: int = Field(default=0, ge=0)
    updated_at: datetime = Field(default_factory=utc_now)


@dataclass(frozen=True)
class Verdict:
    asset_id: str
    kind: str
    confidence: float  # the machine's stored confidence of the tag on that asset
    positive: bool


def kind_thresholds(settings: Settings) -> dict[str, float]:
    return {kind.value: settings.threshold(kind.value) for kind in TagKind}


@dataclass(frozen=True)
class Thresholds:
    """The threshold of every machine tag: its own where learned, else its kind's."""

    kinds: Mapping[str, float]
    learned: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def defaults(cls, settings: Settings) -> Thresholds:
        return cls(kind_thresholds(settings))

    def of(self, tag: str, kind: str) -> float:
        return self.learned.get(tag, self.kinds[kind])

    def source(self, tag: str) -> Source:
        return "learned" if tag in self.learned else "default"

    @cached_property
    def _by_token(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for name in self.learned:
            for token in tag_tokens(name):
                index.setdefault(token, []).append(name)
        return index

    def for_terms(self, terms: Iterable[str]) -> dict[str, float]:
        """The learned thresholds of the tags a query of `terms` can match (the others
        cannot change its results)."""
        names = {n for term in terms for n in self._by_token.get(term, ())}
        return {n: self.learned[n] for n in sorted(names)}


# learning
def learned_threshold(verdicts: list[Verdict], settings: Settings) -> float | None:
    """See the module docstring; None with fewer than `tag_feedback_min` verdicts."""
    if len(verdicts) < settings.tag_feedback_min:
        return None
    ranked = sorted(verdicts, key=lambda v: -v.confidence)
    target = settings.tag_target_precision
    best: float | None = None
    positives = 0
    for seen, verdict in enumerate(ranked, start=1):
        positives += verdict.positive
        following = ranked[seen].confidence if seen < len(ranked) else -1.0
        if following < verdict.confidence and positives >= target * seen:  # a level's last
            best = verdict.confidence
    if best is None:
        quantum = settings.weight_quantum
        best = (math.floor(ranked[0].confidence * quantum) + 1) / quantum
    return best


def verdict_of(asset: Asset, tag: str) -> Verdict | None:
    """The asset's curation of `tag` as evidence on the machine's candidate of that name."""
    machine = next((t for t in asset.smart_tags if t.tag == tag), None)
    if machine is None:
        return None
    for overlay, state in _OVERLAYS.items():
        if tag in getattr(asset, overlay):
            return Verdict(asset.id, machine.kind.value, machine.confidence, _VERDICT[state])
    return None


def _read_assets(store: AssetStore, ids: list[str]) -> dict[str, Asset]:
    read_many = getattr(store, "read_many", None)
    if read_many is not None:
        return {i: v.asset for i, v in read_many(ids).items()}
    found = {}
    for asset_id in ids:
        asset = store.get(asset_id)
        if asset is not None:
            found[asset_id] = asset
    return found


def verdicts_for(store: AssetStore, settings: Settings, tag: str) -> list[Verdict]:
    """The verdicts on `tag` of the assets its newest audit entries name."""
    entries = store.audit_log(tag=tag, limit=settings.tag_feedback_window)
    ids = list(dict.fromkeys(e.asset_id for e in entries))
    assets = _read_assets(store, ids)
    found = (verdict_of(assets[i], tag) for i in ids if i in assets)
    return [v for v in found if v is not None]


def record_for(tag: str, verdicts: list[Verdict], settings: Settings) -> TagThreshold | None:
    if not verdicts:
        return None
    kind = Counter(v.kind for v in verdicts).most_common(1)[0][0]
    positives = sum(v.positive for v in verdicts)
    return TagThreshold(
        tag=tag,
        kind=TagKind(kind),
        threshold=learned_threshold(verdicts, settings),
        positives=positives,
        negatives=len(verdicts) - positives,
    )


def refresh_tag(store: AssetStore, settings: Settings, tag: str) -> TagThreshold | None:
    """Recompute one tag from its evidence and store the result (None: no evidence left)."""
    record = record_for(tag, verdicts_for(store, settings, tag), settings)
    if record is None:
        store.delete_tag_thresholds([tag])
    else:
        store.save_tag_thresholds([record])
    forget(store)
    return record


def curated_names(assets: Iterable[Asset]) -> set[str]:
    """Names curated on some asset that also holds the machine's candidate of that name."""
    names: set[str] = set()
    for asset in assets:
        curated = {*asset.removed_tags, *asset.manual_tags, *asset.promoted_tags}
        if curated:
            names.update(t.tag for t in asset.smart_tags if t.tag in curated)
    return names


def refresh_all(
    store: AssetStore, settings: Settings, progress: Callable[[int, int], Any] | None = None
) -> list[TagThreshold]:
    """Recompute every tag with evidence (and drop the records of tags that lost theirs)."""
    names = sorted(curated_names(store.iter_assets()) | {r.tag for r in store.tag_thresholds()})
    records = []
    for done, name in enumerate(names, start=1):
        record = refresh_tag(store, settings, name)
        if record is not None:
            records.append(record)
        if progress is not None:
            progress(done, len(names))
    return records


# what every search applies: learned thresholds cached per store for tag_threshold_cache_s
_cache: weakref.WeakKeyDictionary[Any, tuple[float, Thresholds]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def current_thresholds(store: AssetStore, settings: Settings) -> Thresholds:
    """The kind thresholds of `settings` with the store's learned thresholds."""
    kinds = kind_thresholds(settings)
    now = time.monotonic()
    with _cache_lock:
        found = _cache.get(store)
    if found is not None and now < found[0]:
        cached = found[1]
        return cached if cached.kinds == kinds else Thresholds(kinds, cached.learned)
    learned = {r.tag: r.threshold for r in store.tag_thresholds() if r.threshold is not None}
    thresholds = Thresholds(kinds, learned)
    with _cache_lock:
        _cache[store] = (now + settings.tag_threshold_cache_s, thresholds)
    return thresholds


def forget(store: AssetStore) -> None:
    """This process changed the store's learned thresholds: read them again next time."""
    with _cache_lock:
        _cache.pop(store, None)
