"""Runs a compiled `PostingsSearch` over a term-index snapshot (catalog/term_index.py).

The program says what ranks how; this module only evaluates it, tier by tier, as far as the
page and the total need:

- A tier is scored only while the page is not full. Every hit of a tier ranks above every
  hit of the next, so once `offset + limit` hits are ranked, later tiers are only counted,
  and counting stops at the total cap (totals beyond it are a lower bound).
- The metadata tier intersects the terms' metadata postings from the rarest term up: a small
  candidate set is looked up by binary search in the doc-ordered postings of the next term, a
  large one through a dense mark array. Its text score dominates its tag score, so when the
  tier holds more hits than the page needs, tag postings are looked up only for the
  candidates whose text score can reach the page.
- Tag postings of a channel are read only where the channel may match (kind filter), and a
  machine tag only counts at or above its threshold: its kind's, or its own where the search
  carries learned per-tag thresholds. Only then are the shadow channels read (the weaker tags
  of a document holding the same token, catalog/term_rows.py): with one threshold per kind
  the best tag of a channel decides alone.
- Ties go to the smaller id: the first 16 bytes of ids settle nearly all of them; the full ids
  are fetched only for documents those bytes cannot tell apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from catalog.store import (
    AllTagsTier,
    AnyTagTier,
    MetadataTier,
    PostingsSearch,
    TagChannelWeight,
    Total,
)
from catalog.term_index import MEDIA_CODE, Snapshot
from catalog.term_rows import CHANNEL_COUNT, CHANNEL_OF, FIELD_BIT, shadow_channel

# binary search beats a dense mark array while |candidates| * log2(|postings|) stays under
# this multiple of |postings| (a scatter costs a few times a comparison)
DENSE_LOOKUP_RATIO = 4.0
FullIds = Callable[[np.ndarray], list[str]]  # rowids -> ids, for ties the id keys cannot settle


@dataclass(frozen=True)
class TagOverrides:
    """Per-tag thresholds: the term ids of tag names (sorted) and their thresholds."""

    tags: np.ndarray  # uint32, sorted
    thresholds: np.ndarray  # float64

    @classmethod
    def of(cls, pairs: list[tuple[int, float]]) -> TagOverrides | None:
        if not pairs:
            return None
        pairs = sorted(pairs)
        return cls(
            np.array([t for t, _ in pairs], np.uint32), np.array([v for _, v in pairs], np.float64)
        )

    def minimum(self, tags: np.ndarray, default: float) -> np.ndarray:
        """Per posting (its tag's term id), the confidence the tag needs."""
        pos = self.tags.searchsorted(tags)
        np.minimum(pos, len(self.tags) - 1, out=pos)
        return np.where(self.tags[pos] == tags, self.thresholds[pos], default)


@dataclass(frozen=True)
class SearchResult:
    total: Total
    hits: list[tuple[int, float, int]]  # (rowid, score, field mask of the terms), best first


@dataclass(frozen=True)
class _Channel:
    number: int
    weight: float | None  # None: the stored quantised confidence
    min_confidence: float
    shadow: bool = False  # several postings of one document may come in a row


def _field_lut(field_weights: dict[str, int]) -> np.ndarray:
    """Text weight of a term by its field mask: the best weight among the fields holding it."""
    lut = np.zeros(1 << len(FIELD_BIT), np.int32)  # field weights are whole numbers
    for mask in range(1, len(lut)):
        lut[mask] = max(w for f, w in field_weights.items() if mask & FIELD_BIT[f])
    return lut


def _channels(channels: tuple[TagChannelWeight, ...], shadows: bool) -> list[_Channel]:
    found = []
    for c in channels:
        weight = None if c.weight is None else float(c.weight)
        if weight is not None and weight <= 0:
            continue
        number = CHANNEL_OF[(c.source, c.kind)]
        found.append(_Channel(number, weight, c.min_confidence))
        if shadows and c.source == "machine":
            found.append(_Channel(shadow_channel(number), weight, c.min_confidence, shadow=True))
    return sorted(found, key=lambda c: c.number)


def _best_per_doc(docs: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One entry per document of the doc-ordered `docs`, with its best weight."""
    if len(docs) < 2:
        return docs, weights
    firsts = np.flatnonzero(np.concatenate(([True], docs[1:] != docs[:-1])))
    if len(firsts) == len(docs):
        return docs, weights
    return docs[firsts], np.maximum.reduceat(weights, firsts)


def _searched(postings: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each candidate sits in the doc-ordered `postings`: (found mask, positions)."""
    pos = postings.searchsorted(candidates)
    np.minimum(pos, len(postings) - 1, out=pos)
    return postings[pos] == candidates, pos


class _Evaluation:
    def __init__(
        self,
        snap: Snapshot,
        search: PostingsSearch,
        term_ids: list[int | None],
        full_ids: FullIds,
        overrides: TagOverrides | None = None,
    ) -> None:
        self.snap = snap
        self.search = search
        self.terms = term_ids
        self.full_ids = full_ids
        self.lut = _field_lut(search.field_weights)
        self.whole_weights = bool(np.all(self.lut >= 0))
        self.overrides = overrides
        self.channels = _channels(search.channels, shadows=overrides is not None)
        self.allowed_folders = snap.subtree_mask(search.folder) if search.folder else None
        self.media = MEDIA_CODE[search.media_type] if search.media_type else None
        self.taken_any = False  # whether an earlier tier took hits already

    # scope: live postings of documents passing the filters
    def _keep(self, segment: int, docs: np.ndarray) -> np.ndarray | None:
        keep = None
        if self.snap.needs_live_check(segment):
            keep = self.snap.doc_segment[docs] == segment
        passing = self.filtered(docs)
        if passing is None:
            return keep
        return passing if keep is None else keep & passing

    def filtered(self, docs: np.ndarray) -> np.ndarray | None:
        """bool per document: it passes the folder and media filters (None: no filter)."""
        snap, keep = self.snap, None
        if self.allowed_folders is not None:
            inside = self.allowed_folders[snap.folder[docs]]
            keep = inside if keep is None else keep & inside
        if self.media is not None:
            same = snap.media[docs] == self.media
            keep = same if keep is None else keep & same
        return keep

    def _segment_groups(self, docs: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Indices into `docs` grouped by the segment holding each document's live version."""
        where = self.snap.doc_segment[docs]
        if len(self.snap.segments) == 1:
            return [(0, np.flatnonzero(where == 0))]
        return [(s, np.flatnonzero(where == s)) for s in range(len(self.snap.segments))]

    # metadata postings
    def meta_size(self, term: int | None) -> int:
        if term is None:
            return 0
        return sum(b - a for a, b in (s.meta.span(term) for s in self.snap.segments))

    def meta_postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """Documents holding `term` in their metadata, and its text weight there."""
        docs, weights = [], []
        for index, seg in enumerate(self.snap.segments):
            d, fields = seg.meta_of(term)
            if not len(d):
                continue
            keep = self._keep(index, d)
            if keep is not None:
                d, fields = d[keep], fields[keep]
            docs.append(d)
            weights.append(self.lut[fields])
        if not docs:
            return np.empty(0, np.int32), np.empty(0, np.int32)
        if len(docs) == 1:
            return docs[0], weights[0]
        return np.concatenate(docs), np.concatenate(weights)

    def meta_lookup(self, term: int, docs: np.ndarray) -> np.ndarray:
        """Text weight of `term` in each of `docs` (0 where absent)."""
        out = np.zeros(len(docs), np.int32)
        for index, at in self._segment_groups(docs):
            postings, fields = self.snap.segments[index].meta_of(term)
            if len(at) and len(postings):
                found = self._find(postings, docs[at], fields)
                out[at] = self.lut[found]
        return out

    def _find(self, postings: np.ndarray, wanted: np.ndarray, values: np.ndarray) -> np.ndarray:
        """values[i] where postings[i] is a wanted document, 0 elsewhere, per wanted document."""
        return self._lookup(postings, wanted, values.__getitem__)

    def _lookup(
        self, postings: np.ndarray, wanted: np.ndarray, values: Callable[[Any], np.ndarray]
    ) -> np.ndarray:
        """Per wanted document, `values(at)` of its posting in the doc-ordered `postings`
        (`at`: positions, or a whole-range slice), 0 where it has none."""
        cost = len(wanted) * np.log2(len(postings) + 2)
        if cost <= DENSE_LOOKUP_RATIO * len(postings):
            hit, pos = _searched(postings, wanted)
            return np.where(hit, values(pos), 0)
        found = values(slice(None))
        dense = np.zeros(self.snap.size, found.dtype)
        dense[postings] = found
        return dense[wanted]

    # tag postings
    def _channel_slices(self, term: int):
        """(segment index, channel, start, stop) of every eligible channel holding `term`."""
        for index, seg in enumerate(self.snap.segments):
            bounds = seg.channel_bounds(term, CHANNEL_COUNT)
            if bounds is None:
                continue
            for channel in self.channels:
                a, b = int(bounds[channel.number]), int(bounds[channel.number + 1])
                if a < b:
                    yield index, channel, a, b

    def tag_size(self, term: int | None) -> int:
        if term is None:
            return 0
        return sum(b - a for _, _, a, b in self._channel_slices(term))

    def _passes(self, channel: _Channel, confs: np.ndarray, tags: np.ndarray) -> np.ndarray:
        """Per machine-tag posting: whether its confidence reaches its tag's threshold."""
        if self.overrides is None:
            return confs >= channel.min_confidence
        return confs >= self.overrides.minimum(tags, channel.min_confidence)

    def _eligible(
        self, index: int, channel: _Channel, a: int, b: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Documents of one channel slice whose tag may match, and its (best) weight."""
        seg = self.snap.segments[index]
        docs = seg.tag_doc[a:b]
        if channel.weight is None:
            weights = seg.tag_weight[a:b]
            ok = self._passes(channel, seg.tag_conf[a:b], seg.tag_tag[a:b]) & (weights > 0)
        else:
            weights = np.full(b - a, channel.weight)
            ok = None
        keep = self._keep(index, docs)
        if keep is not None:
            ok = keep if ok is None else ok & keep
        if ok is not None:
            docs, weights = docs[ok], weights[ok]
        if channel.shadow:
            return _best_per_doc(docs, weights)
        return docs, weights

    def tag_postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """Documents with an eligible tag holding `term`, and the best such tag's weight."""
        parts = [self._eligible(*where) for where in self._channel_slices(term)]
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return np.empty(0, np.int32), np.empty(0)
        if len(parts) == 1:
            return parts[0][0], parts[0][1].astype(np.float64)
        # a document may hold the term in several channels: keep its best weight
        best = np.zeros(self.snap.size)
        docs = []
        for d, w in parts:
            current = best[d]
            docs.append(d[current == 0])
            best[d] = np.maximum(current, w)
        found = np.concatenate(docs)
        return found, best[found]

    def tag_lookup(self, term: int | None, docs: np.ndarray) -> np.ndarray | None:
        """Weight of the best eligible tag holding `term`, for each of `docs` (0: none);
        None when no eligible tag holds the term at all."""
        if term is None or not len(docs):
            return None
        out = None
        groups: dict[int, np.ndarray] = {}
        for index, channel, a, b in self._channel_slices(term):
            if out is None:
                out = np.zeros(len(docs))
                groups = dict(self._segment_groups(docs))
            at = groups.get(index)
            if at is None or not len(at):
                continue
            if channel.shadow:  # several postings per document: the best eligible one
                shadow_docs, shadow_weights = self._eligible(index, channel, a, b)
                if len(shadow_docs):
                    found = self._lookup(shadow_docs, docs[at], shadow_weights.__getitem__)
                    out[at] = np.maximum(out[at], found)
                continue
            seg = self.snap.segments[index]
            confs, weights, tags = seg.tag_conf[a:b], seg.tag_weight[a:b], seg.tag_tag[a:b]

            def values(
                where: Any, c: _Channel = channel, confs=confs, weights=weights, tags=tags
            ) -> np.ndarray:
                if c.weight is None:  # a machine tag counts at or above its threshold
                    eligible = self._passes(c, confs[where], tags[where])
                    return np.where(eligible, weights[where], 0).astype(np.float64)
                return np.full(len(confs[where]), c.weight)

            found = self._lookup(seg.tag_doc[a:b], docs[at], values)
            out[at] = np.maximum(out[at], found)
        return out

    def field_masks(self, docs: np.ndarray) -> np.ndarray:
        """Per document, the bit mask of the metadata fields holding some term."""
        out = np.zeros(len(docs), np.uint8)
        for term in self.terms:
            if term is None:
                continue
            for index, at in self._segment_groups(docs):
                postings, fields = self.snap.segments[index].meta_of(term)
                if len(at) and len(postings):
                    out[at] |= self._find(postings, docs[at], fields)
        return out

    def tag_score(self, docs: np.ndarray) -> np.ndarray:
        total = np.zeros(len(docs))
        for term in self.terms:
            found = self.tag_lookup(term, docs)
            if found is not None:
                total += found
        return total

    def max_tag_score(self) -> float:
        top = max((c.weight if c.weight is not None else 1.0 for c in self.channels), default=0)
        return len(self.terms) * top

    # tiers: (documents, scores) of the hits not in an earlier tier
    def metadata_members(self, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Documents (not taken) holding every term in their metadata, and their text score."""
        if any(t is None for t in self.terms):
            return np.empty(0, np.int32), np.empty(0)
        order = sorted(self.terms, key=self.meta_size)
        docs, text = self.meta_postings(order[0])
        for term in order[1:]:
            if not len(docs):
                break
            weight = self.meta_lookup(term, docs)
            keep = weight > 0
            docs, text = docs[keep], text[keep] + weight[keep]
        if self.taken_any:
            free = ~taken[docs]
            docs, text = docs[free], text[free]
        return docs, text

    def metadata_tier(
        self, tier: MetadataTier, members: np.ndarray, text: np.ndarray, wanted: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The tier's hits that can reach the page of `wanted` hits, and their scores."""
        # the text score outranks any tag score: only the best text levels can reach the page
        if len(members) > wanted and self.max_tag_score() < tier.text_unit:
            near = np.flatnonzero(text >= self._text_level(text, wanted))
            members, text = members[near], text[near]
        return members, tier.text_unit * text + self.tag_score(members)

    def _text_level(self, text: np.ndarray, wanted: int) -> float:
        """The best text score that at least `wanted` of `text` reach."""
        if self.whole_weights:  # text scores are small whole numbers: count them
            counts = np.bincount(text)
            reaching = np.cumsum(counts[::-1])  # documents at or above each level, top down
            return float(len(counts) - 1 - int(reaching.searchsorted(wanted)))
        return float(np.partition(text, len(text) - wanted)[len(text) - wanted])

    def all_tags_tier(self, tier: AllTagsTier, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if any(t is None for t in self.terms):
            return np.empty(0, np.int32), np.empty(0)
        order = sorted(self.terms, key=self.tag_size)
        docs, score = self.tag_postings(order[0])
        for term in order[1:]:
            if not len(docs):
                break
            weight = self.tag_lookup(term, docs)
            if weight is None:
                return np.empty(0, np.int32), np.empty(0)
            keep = weight > 0
            docs, score = docs[keep], score[keep] + weight[keep]
        free = ~taken[docs]
        return docs[free], tier.base + score[free]

    def any_tag_tier(self, tier: AnyTagTier, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = np.zeros(self.snap.size)
        for term in self.terms:
            if term is not None:
                docs, weight = self.tag_postings(term)
                total[docs] += weight
        total[taken] = 0
        docs = np.flatnonzero(total).astype(np.int32)
        return docs, tier.base + total[docs]

    def count_tagged(self, taken: np.ndarray, limit: int) -> int:
        """Documents not `taken` with some eligible tag holding a term, counted up to `limit`."""
        seen = taken.copy()
        count = 0
        for term in self.terms:
            if term is None:
                continue
            for where in self._channel_slices(term):
                docs, _ = self._eligible(*where)
                new = docs[~seen[docs]]
                seen[new] = True
                count += len(new)
                if count >= limit:
                    return count
        return count

    # ranking by (score desc, id asc)
    def _id_order(self, docs: np.ndarray) -> np.ndarray:
        """A permutation putting `docs` in id order."""
        keys = self.snap.id_key[docs]
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        keys = keys[order]
        same = np.all(keys[1:] == keys[:-1], axis=1)
        if not same.any():
            return order
        # ids sharing their first 16 bytes: settle those runs with the full ids
        ids = self.full_ids(docs[order])
        return order[sorted(range(len(order)), key=ids.__getitem__)]

    def _smallest_ids(self, docs: np.ndarray, count: int) -> np.ndarray:
        """Indices of the `count` documents of `docs` with the smallest ids."""
        if count >= len(docs):
            return np.arange(len(docs))
        candidates = None  # None: every document
        chosen = []
        for column in range(self.snap.id_key.shape[1]):
            values = self.snap.id_key[docs if candidates is None else docs[candidates], column]
            if candidates is None:
                candidates = np.arange(len(docs))
            cut = np.partition(values, count - 1)[count - 1]
            below = candidates[values < cut]
            candidates = candidates[values == cut]
            chosen.append(below)
            count -= len(below)
            if len(candidates) == count:
                return np.concatenate((*chosen, candidates))
        # documents whose ids share their first 16 bytes: the full ids decide
        order = self._id_order(docs[candidates])
        return np.concatenate((*chosen, candidates[order[:count]]))

    def top(self, docs: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
        """Indices of the `count` best of `docs`, best first."""
        if count <= 0 or not len(docs):
            return np.empty(0, np.int64)
        chosen = np.arange(len(docs))
        if len(docs) > count and scores.min() == scores.max():  # all tied: the ids decide
            chosen = self._smallest_ids(docs, count)
        elif len(docs) > count:
            cut = np.partition(scores, len(docs) - count)[len(docs) - count]
            above = np.flatnonzero(scores > cut)
            tied = np.flatnonzero(scores == cut)
            chosen = np.concatenate(
                (above, tied[self._smallest_ids(docs[tied], count - len(above))])
            )
        by_id = chosen[self._id_order(docs[chosen])]
        # a stable sort by score keeps id order among equal scores
        return by_id[np.argsort(-scores[by_id], kind="stable")]


def execute(
    snap: Snapshot,
    search: PostingsSearch,
    term_ids: list[int | None],
    full_ids: FullIds,
    overrides: TagOverrides | None = None,
) -> SearchResult:
    """The page and total of `search` over `snap`; `term_ids` are the ids of search.terms,
    `overrides` the search's per-tag thresholds by the term ids of the tag names."""
    run = _Evaluation(snap, search, term_ids, full_ids, overrides)
    if not search.terms:
        return _browse(run)
    wanted = search.offset + search.limit
    cap = search.total_cap
    taken = np.zeros(snap.size, bool)  # hits of earlier tiers
    page_docs: list[np.ndarray] = []
    page_scores: list[np.ndarray] = []
    count = 0
    for position, tier in enumerate(search.tiers):
        if wanted <= 0:  # the page is full: later tiers only add to the total
            if count > cap:
                break
            count += _count_tier(run, search.tiers, position, taken, cap + 1 - count)
            continue
        if isinstance(tier, MetadataTier):
            members, text = run.metadata_members(taken)
            docs, scores = run.metadata_tier(tier, members, text, wanted)
        elif isinstance(tier, AllTagsTier):
            docs, scores = run.all_tags_tier(tier, taken)
            members = docs
        elif isinstance(tier, AnyTagTier):
            docs, scores = run.any_tag_tier(tier, taken)
            members = docs
        else:
            raise TypeError(f"the term index cannot evaluate {type(tier).__name__}")
        count += len(members)
        best = run.top(docs, scores, wanted)
        page_docs.append(docs[best])
        page_scores.append(scores[best])
        wanted -= len(best)
        if wanted > 0 or count <= cap:  # a later tier is looked at: keep its hits apart
            taken[members] = True
            run.taken_any = run.taken_any or len(members) > 0
    docs = np.concatenate(page_docs)[search.offset :] if page_docs else np.empty(0, np.int32)
    scores = np.concatenate(page_scores)[search.offset :] if page_scores else np.empty(0)
    masks = run.field_masks(docs)
    hits = [(int(d), float(s), int(m)) for d, s, m in zip(docs, scores, masks, strict=True)]
    return SearchResult(Total.capped(count, cap), hits)


def _count_tier(
    run: _Evaluation, tiers: tuple, position: int, taken: np.ndarray, limit: int
) -> int:
    """Hits of tiers[position] outside `taken`, counted up to about `limit`."""
    tier = tiers[position]
    if isinstance(tier, AnyTagTier):
        return run.count_tagged(taken, limit)
    if isinstance(tier, AllTagsTier):
        if any(isinstance(t, AnyTagTier) for t in tiers[position + 1 :]):
            return 0  # a later any-tag tier counts these hits with its own
        return len(run.all_tags_tier(tier, taken)[0])
    if isinstance(tier, MetadataTier):
        return len(run.metadata_members(taken)[0])
    raise TypeError(f"the term index cannot evaluate {type(tier).__name__}")


def _browse(run: _Evaluation) -> SearchResult:
    """Every live document passing the filters, newest first (then by id), scored 0."""
    search = run.search
    docs = np.flatnonzero(run.snap.doc_segment >= 0).astype(np.int32)
    keep = run.filtered(docs)
    if keep is not None:
        docs = docs[keep]
    best = run.top(docs, run.snap.created[docs].astype(np.float64), search.offset + search.limit)
    hits = [(int(d), 0.0, 0) for d in docs[best][search.offset :]]
    return SearchResult(Total.capped(len(docs), search.total_cap), hits)
