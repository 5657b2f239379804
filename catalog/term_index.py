"""The embedded store's term index: columnar postings in memory (numpy), derived from the
SQLite file, which stays the system of record (catalog/sqlite_index.py keeps them in step).

A snapshot is immutable: a tuple of segments plus per-document columns indexed by the
asset's SQLite rowid (its document number). Searches run on the snapshot they started with
while a newer one is being made.

A segment holds the postings of the documents written in one stretch of the change log, in
two compressed tables keyed by term id:
  meta  (doc, field mask)                  per (term, doc), in doc order;
  tags  (channel, doc, confidence, weight, tag) per (term, channel, doc), in channel then doc
        order; `tag` is the term id of the tag's name (per-tag thresholds). A shadow channel
        (catalog/term_rows.py) may hold several postings of one document.
Doc order lets a small candidate set be looked up by binary search and a large one be met
through a dense mark array, whichever is cheaper (catalog/term_search.py).

The live version of a document is in exactly one segment, `doc_segment[doc]`; its postings
in older segments are stale and skipped. New writes become a new small segment; the newest
segments are merged when they grow comparable in size to the one before, which keeps their
number logarithmic. When most documents are stale, the owner rebuilds the whole index.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from catalog.asset import MediaType

META_DTYPE = np.dtype([("term", "<u4"), ("fields", "u1")])
TAG_DTYPE = np.dtype([("term", "<u4"), ("channel", "u1"), ("conf", "<f8"), ("tag", "<u4")])
MEDIA_CODE = {media.value: code for code, media in enumerate(MediaType)}
ID_KEY_BYTES = 16  # the first bytes of an id, as two big-endian integers, order documents
NO_SEGMENT = -1
_DOC_BITS = 32
_CHANNEL_BITS = 4


def encode_meta(terms: list[int], fields: np.ndarray) -> np.ndarray:
    """Metadata postings of a batch as one array; callers cut it per document."""
    out = np.empty(len(terms), META_DTYPE)
    out["term"], out["fields"] = terms, fields
    return out


def encode_tags(
    terms: list[int], channels: np.ndarray, confs: np.ndarray, tags: list[int]
) -> np.ndarray:
    out = np.empty(len(terms), TAG_DTYPE)
    out["term"], out["channel"], out["conf"], out["tag"] = terms, channels, confs, tags
    return out


def created_seconds(created: list[str]) -> np.ndarray:
    """Seconds since the epoch of UTC times written as YYYY-MM-DDTHH:MM:SSZ."""
    return np.array([c.rstrip("Z") for c in created], "datetime64[s]").astype(np.int64)


def id_keys(ids: list[str]) -> np.ndarray:
    """(n, 2) uint64: the first 16 bytes of each id, big-endian, zero-padded. Ids are ASCII,
    so this orders like the ids themselves except between ids sharing those 16 bytes."""
    raw = np.array([i.encode() for i in ids], dtype=f"S{ID_KEY_BYTES}")
    return raw.view(">u8").reshape(-1, 2).astype(np.uint64)


@dataclass(frozen=True)
class DocRows:
    """The indexed form of some documents, as read from the system of record."""

    rowids: np.ndarray  # int64
    ids: list[str]
    folders: list[str]
    media: list[str]
    created: list[str]  # created_at as the store writes it: YYYY-MM-DDTHH:MM:SSZ
    meta: list[bytes]  # META_DTYPE records per document
    tags: list[bytes]  # TAG_DTYPE records per document

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Csr:
    """term id -> [start, stop) of its postings, for a table sorted by term."""

    terms: np.ndarray  # sorted unique term ids
    starts: np.ndarray  # int64, len(terms) + 1

    @classmethod
    def of_sorted(cls, term_column: np.ndarray) -> Csr:
        if len(term_column) == 0:
            return cls(np.empty(0, np.int64), np.zeros(1, np.int64))
        edges = np.flatnonzero(term_column[1:] != term_column[:-1]) + 1
        firsts = np.concatenate(([0], edges))
        starts = np.concatenate((firsts, [len(term_column)])).astype(np.int64)
        return cls(term_column[firsts].astype(np.int64), starts)

    def span(self, term: int) -> tuple[int, int]:
        i = int(self.terms.searchsorted(term))
        if i < len(self.terms) and self.terms[i] == term:
            return int(self.starts[i]), int(self.starts[i + 1])
        return 0, 0

    def expand(self) -> np.ndarray:
        """The term column back, one entry per posting."""
        return np.repeat(self.terms, np.diff(self.starts))


@dataclass(frozen=True)
class Segment:
    meta: Csr
    meta_doc: np.ndarray  # int32
    meta_fields: np.ndarray  # uint8 bit mask (catalog/term_rows.FIELD_BIT)
    tags: Csr
    tag_channel: np.ndarray  # uint8 (catalog/term_rows.CHANNELS)
    tag_doc: np.ndarray  # int32
    tag_conf: np.ndarray  # float64: thresholds compare against the exact confidence
    tag_weight: np.ndarray  # float32: the confidence quantised; exact in float32
    tag_tag: np.ndarray  # uint32: the term id of the tag's name
    docs: int  # documents it was built from

    @property
    def postings(self) -> int:
        return len(self.meta_doc) + len(self.tag_doc)

    def meta_of(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.meta.span(term)
        return self.meta_doc[a:b], self.meta_fields[a:b]

    def channel_bounds(self, term: int, channels: int) -> np.ndarray | None:
        """Offsets of each channel's postings of `term` (channels + 1 of them), or None."""
        a, b = self.tags.span(term)
        if a == b:
            return None
        return a + self.tag_channel[a:b].searchsorted(np.arange(channels + 1))

    @property
    def nbytes(self) -> int:
        arrays = (self.meta_doc, self.meta_fields, self.tag_channel, self.tag_doc, self.tag_tag)
        arrays += (self.tag_conf, self.tag_weight, self.meta.terms, self.meta.starts)
        return sum(a.nbytes for a in (*arrays, self.tags.terms, self.tags.starts))


def _sorted_by(key: np.ndarray) -> np.ndarray:
    # keys are unique (they end with the document): the fastest sort is stable enough
    return np.argsort(key)


def _stable_order(key: np.ndarray) -> np.ndarray:
    """The stable sort order of non-negative integer keys below 2**32, in two passes of
    numpy's radix sort over 16-bit halves (linear, where a comparison sort is n log n)."""
    low = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    high = (key[low] >> 16).astype(np.uint16)
    return low[np.argsort(high, kind="stable")]


def make_segment(
    meta_term: np.ndarray,
    meta_doc: np.ndarray,
    meta_fields: np.ndarray,
    tag_term: np.ndarray,
    tag_channel: np.ndarray,
    tag_doc: np.ndarray,
    tag_conf: np.ndarray,
    tag_tag: np.ndarray,
    quantum: int,
    docs: int,
    in_doc_order: bool = False,
) -> Segment:
    """A segment of postings given column by column; `in_doc_order`: the postings come in
    document order already, so a stable sort by term (and channel) is enough."""
    tag_group = (tag_term.astype(np.uint64) << np.uint64(_CHANNEL_BITS)) | tag_channel.astype(
        np.uint64
    )
    if in_doc_order and int(tag_group.max(initial=0)) < 1 << 32:
        m = _stable_order(meta_term.astype(np.uint32))
        t = _stable_order(tag_group.astype(np.uint32))
    else:
        m = _sorted_by(
            (meta_term.astype(np.uint64) << np.uint64(_DOC_BITS)) | meta_doc.astype(np.uint64)
        )
        t = _sorted_by((tag_group << np.uint64(_DOC_BITS)) | tag_doc.astype(np.uint64))
    conf = tag_conf[t]
    return Segment(
        meta=Csr.of_sorted(meta_term[m]),
        meta_doc=meta_doc[m].astype(np.int32),
        meta_fields=meta_fields[m].astype(np.uint8),
        tags=Csr.of_sorted(tag_term[t]),
        tag_channel=tag_channel[t].astype(np.uint8),
        tag_doc=tag_doc[t].astype(np.int32),
        tag_conf=conf,
        tag_weight=(np.rint(conf * quantum) / quantum).astype(np.float32),
        tag_tag=tag_tag[t].astype(np.uint32),
        docs=docs,
    )


def _records(blobs: list[bytes], dtype: np.dtype, rowids: np.ndarray) -> tuple:
    records = np.frombuffer(b"".join(blobs), dtype)
    counts = np.fromiter(map(len, blobs), np.int64, len(blobs)) // dtype.itemsize
    return records, np.repeat(rowids, counts)


def segment_of_rows(rows: DocRows, quantum: int) -> Segment:
    meta, meta_doc = _records(rows.meta, META_DTYPE, rows.rowids)
    tags, tag_doc = _records(rows.tags, TAG_DTYPE, rows.rowids)
    return make_segment(
        meta["term"],
        meta_doc,
        meta["fields"],
        tags["term"],
        tags["channel"],
        tag_doc,
        tags["conf"].copy(),
        tags["tag"].copy(),
        quantum,
        len(rows),
    )


def merge_segments(parts: list[tuple[Segment, np.ndarray, np.ndarray]], quantum: int) -> Segment:
    """One segment of the live postings of `parts`: (segment, live meta mask, live tag mask)."""
    meta = [(s.meta.expand()[m], s.meta_doc[m], s.meta_fields[m]) for s, m, _ in parts]
    tags = [
        (s.tags.expand()[t], s.tag_channel[t], s.tag_doc[t], s.tag_conf[t], s.tag_tag[t])
        for s, _, t in parts
    ]
    meta_term, meta_doc, meta_fields = (np.concatenate(c) for c in zip(*meta, strict=True))
    tag_term, tag_channel, tag_doc, tag_conf, tag_tag = (
        np.concatenate(c) for c in zip(*tags, strict=True)
    )
    docs = sum(s.docs for s, _, _ in parts)
    return make_segment(
        meta_term,
        meta_doc,
        meta_fields,
        tag_term,
        tag_channel,
        tag_doc,
        tag_conf,
        tag_tag,
        quantum,
        docs,
    )


class Folders:
    """Folder names by id, append-only and shared by the snapshots of one index (a snapshot
    only ever looks at the ids it knows)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def ids_of(self, names: list[str]) -> np.ndarray:
        with self._lock:
            out = np.empty(len(names), np.int32)
            for i, name in enumerate(names):
                found = self.ids.get(name)
                if found is None:
                    found = self.ids[name] = len(self.names)
                    self.names.append(name)
                out[i] = found
            return out

    def subtree(self, folder: str, known: int) -> np.ndarray:
        """bool per folder id < known: the folder itself or one of its subfolders."""
        prefix = folder + "/"
        names = self.names[:known]
        return np.fromiter(
            (n == folder or n.startswith(prefix) for n in names), dtype=bool, count=len(names)
        )


@dataclass(frozen=True)
class Snapshot:
    generation: str
    seq: int  # the change-log position it reflects
    segments: tuple[Segment, ...]
    stale: tuple[int, ...]  # per segment: documents superseded since it was built
    doc_segment: np.ndarray  # int16 by rowid: the segment holding the live version, or -1
    media: np.ndarray  # uint8 by rowid (MEDIA_CODE)
    folder: np.ndarray  # int32 by rowid (Folders ids)
    id_key: np.ndarray  # (rowid, 2) uint64: the id order (see id_keys)
    created: np.ndarray  # int64 by rowid: creation time, seconds (browse order)
    folders: Folders
    folder_count: int
    live: int  # documents
    _subtrees: dict[str, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def size(self) -> int:
        return len(self.doc_segment)

    def subtree_mask(self, folder: str) -> np.ndarray:
        found = self._subtrees.get(folder)
        if found is None:
            found = self._subtrees[folder] = self.folders.subtree(folder, self.folder_count)
        return found

    def needs_live_check(self, segment: int) -> bool:
        """Whether some postings of `segment` belong to superseded or deleted documents."""
        return self.stale[segment] > 0

    @property
    def nbytes(self) -> int:
        columns = (self.doc_segment, self.media, self.folder, self.id_key, self.created)
        return sum(s.nbytes for s in self.segments) + sum(c.nbytes for c in columns)

    @property
    def stale_docs(self) -> int:
        return sum(self.stale)


def empty_snapshot(generation: str, seq: int = 0) -> Snapshot:
    return Snapshot(
        generation=generation,
        seq=seq,
        segments=(),
        stale=(),
        doc_segment=np.full(0, NO_SEGMENT, np.int16),
        media=np.zeros(0, np.uint8),
        folder=np.zeros(0, np.int32),
        id_key=np.zeros((0, 2), np.uint64),
        created=np.zeros(0, np.int64),
        folders=Folders(),
        folder_count=0,
        live=0,
    )


def _grown(column: np.ndarray, size: int, fill: int) -> np.ndarray:
    """A copy of `column` at least `size` long (capacity doubles, so appends stay cheap)."""
    if len(column) >= size:
        return column.copy()
    capacity = max(size, 2 * len(column), 1024)
    out = np.full((capacity, *column.shape[1:]), fill, column.dtype)
    out[: len(column)] = column
    return out


@dataclass(frozen=True)
class MergePolicy:
    factor: int  # merge the newest two segments when the newer is >= 1/factor of the older
    max_segments: int


def apply_changes(
    snap: Snapshot,
    rows: DocRows,
    deleted: np.ndarray,
    seq: int,
    quantum: int,
    policy: MergePolicy,
) -> Snapshot:
    """The snapshot after `rows` were written (inserted or replaced) and `deleted` removed."""
    top = int(max(rows.rowids.max(initial=-1), deleted.max(initial=-1))) + 1
    doc_segment = _grown(snap.doc_segment, top, NO_SEGMENT)
    media = _grown(snap.media, top, 0)
    folder = _grown(snap.folder, top, 0)
    id_key = _grown(snap.id_key, top, 0)
    created = _grown(snap.created, top, 0)
    touched = np.concatenate((rows.rowids, deleted)).astype(np.int64)
    before = doc_segment[touched]
    stale = list(snap.stale)
    for index, count in enumerate(np.bincount(before[before >= 0], minlength=len(stale))):
        stale[index] += int(count)
    live = snap.live - int(np.count_nonzero(before >= 0))
    doc_segment[deleted] = NO_SEGMENT
    segments = list(snap.segments)
    if len(rows):
        segments.append(segment_of_rows(rows, quantum))
        stale.append(0)
        doc_segment[rows.rowids] = len(segments) - 1
        media[rows.rowids] = [MEDIA_CODE[m] for m in rows.media]
        folder[rows.rowids] = snap.folders.ids_of(rows.folders)
        id_key[rows.rowids] = id_keys(rows.ids)
        created[rows.rowids] = created_seconds(rows.created)
        live += len(rows)
    while len(segments) >= 2 and (
        segments[-1].postings * policy.factor >= segments[-2].postings
        or len(segments) > policy.max_segments
    ):
        newer, older = len(segments) - 1, len(segments) - 2
        parts = [
            (
                segments[i],
                doc_segment[segments[i].meta_doc] == i,
                doc_segment[segments[i].tag_doc] == i,
            )
            for i in (older, newer)
        ]
        segments[older:] = [merge_segments(parts, quantum)]
        stale[older:] = [0]
        doc_segment[doc_segment == newer] = older
    return Snapshot(
        generation=snap.generation,
        seq=seq,
        segments=tuple(segments),
        stale=tuple(stale),
        doc_segment=doc_segment,
        media=media,
        folder=folder,
        id_key=id_key,
        created=created,
        folders=snap.folders,
        folder_count=len(snap.folders.names),
        live=live,
    )


class SnapshotBuilder:
    """A snapshot of every document, read chunk by chunk into columns sized up front and
    sorted once: no intermediate segments to merge, so the peak memory stays near the
    index's own size plus its sort keys."""

    def __init__(self, meta_records: int, tag_records: int) -> None:
        self.meta = np.empty(meta_records, META_DTYPE)
        self.meta_doc = np.empty(meta_records, np.int32)
        self.tags = np.empty(tag_records, TAG_DTYPE)
        self.tag_doc = np.empty(tag_records, np.int32)
        self.filled = [0, 0]
        self.folders = Folders()
        self.columns: dict[str, list[np.ndarray]] = {
            k: [] for k in ("rowid", "media", "folder", "id_key", "created")
        }

    def add(self, rows: DocRows) -> None:
        for records, docs, blobs, dtype, i in (
            (self.meta, self.meta_doc, rows.meta, META_DTYPE, 0),
            (self.tags, self.tag_doc, rows.tags, TAG_DTYPE, 1),
        ):
            chunk, chunk_docs = _records(blobs, dtype, rows.rowids)
            start, end = self.filled[i], self.filled[i] + len(chunk)
            if end > len(records):
                raise ValueError("the index rows changed while the index was being built")
            records[start:end] = chunk
            docs[start:end] = chunk_docs
            self.filled[i] = end
        self.columns["rowid"].append(rows.rowids)
        self.columns["media"].append(np.array([MEDIA_CODE[m] for m in rows.media], np.uint8))
        self.columns["folder"].append(self.folders.ids_of(rows.folders))
        self.columns["id_key"].append(id_keys(rows.ids))
        self.columns["created"].append(created_seconds(rows.created))

    def finish(self, generation: str, seq: int, quantum: int) -> Snapshot:
        if self.filled != [len(self.meta), len(self.tags)]:
            raise ValueError("the index rows changed while the index was being built")
        joined = {
            k: np.concatenate(v) if v else np.empty(0, np.int64) for k, v in self.columns.items()
        }
        rowids = joined["rowid"]
        size = int(rowids.max(initial=-1)) + 1
        segment = make_segment(
            self.meta["term"],
            self.meta_doc,
            self.meta["fields"],
            self.tags["term"],
            self.tags["channel"],
            self.tag_doc,
            self.tags["conf"],
            self.tags["tag"],
            quantum,
            len(rowids),
            in_doc_order=bool(np.all(rowids[1:] > rowids[:-1])),
        )
        doc_segment = np.full(size, NO_SEGMENT, np.int16)
        doc_segment[rowids] = 0
        columns = {
            "media": np.zeros(size, np.uint8),
            "folder": np.zeros(size, np.int32),
            "id_key": np.zeros((size, 2), np.uint64),
            "created": np.zeros(size, np.int64),
        }
        for name, column in columns.items():
            if len(rowids):
                column[rowids] = joined[name]
        return Snapshot(
            generation=generation,
            seq=seq,
            segments=(segment,),
            stale=(0,),
            doc_segment=doc_segment,
            folders=self.folders,
            folder_count=len(self.folders.names),
            live=len(rowids),
            **columns,
        )


def build_snapshot(generation: str, seq: int, rows: DocRows, quantum: int) -> Snapshot:
    """A snapshot of every document in `rows`, as one segment."""
    meta_bytes = sum(len(b) for b in rows.meta)
    tag_bytes = sum(len(b) for b in rows.tags)
    builder = SnapshotBuilder(meta_bytes // META_DTYPE.itemsize, tag_bytes // TAG_DTYPE.itemsize)
    builder.add(rows)
    return builder.finish(generation, seq, quantum)
