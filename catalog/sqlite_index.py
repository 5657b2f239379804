"""The SQLite store's search side: asset rows as the term index needs them, the term
dictionary, and one process's in-memory term index kept in step with the file.

Every write appends the rowids it changed to the `changes` log in its own transaction. A search
opens a read transaction, reads the log's last position and the index generation, and catches
the in-memory index up to exactly that position from the rows changed since (or rebuilds it
when the generation changed, the log was pruned past it, or most of it would change). Writes
from any process (the worker, another API process, a CLI) are so visible to the next search.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import numpy as np

from catalog.asset import Asset
from catalog.settings import Settings
from catalog.sqlite_schema import GENERATION_KEY
from catalog.term_index import (
    DocRows,
    MergePolicy,
    Snapshot,
    apply_changes,
    build_snapshot,
    encode_meta,
    encode_tags,
    merge_segments,
)
from catalog.term_rows import TOKEN_SEPARATOR, AssetTerms, asset_terms

_ROW_COLUMNS = "a.rowid, a.id, a.folder, a.media_type, a.created_at, t.meta, t.tags"


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class PreparedAsset(NamedTuple):
    """An asset in the form the store writes: built in import worker processes, so it holds
    only plain values (cheap to send between processes)."""

    id: str
    folder: str
    media_type: str
    status: str
    created_at: str
    updated_at: str
    doc: str  # the asset as JSON
    terms: AssetTerms
    created_explicit: bool  # else an existing asset keeps its creation time


def prepare(asset: Asset, quantum: int) -> PreparedAsset:
    return PreparedAsset(
        asset.id,
        asset.folder,
        asset.media_type.value,
        asset.status.value,
        iso(asset.created_at),
        iso(asset.updated_at),
        # model_dump_json is the to_json_dict() form, serialised without a detour through dicts
        asset.model_dump_json(),
        asset_terms(asset, quantum),
        "created_at" in asset.model_fields_set,
    )


class TermDictionary:
    """Term ids (table `terms`): ids are assigned by writers and never reused."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def ids_for_write(self, conn: sqlite3.Connection, tokens: Iterable[str]) -> dict[str, int]:
        """Ids of `tokens`, adding the new ones; call inside the write transaction."""
        with self._lock:
            known = self._ids
        wanted = set(tokens)
        found = {t: known[t] for t in wanted if t in known}
        missing = [t for t in wanted if t not in found]
        if missing:
            found.update(self._select(conn, missing))
            new = [(t,) for t in missing if t not in found]
            if new:
                conn.executemany("INSERT INTO terms (term) VALUES (?)", new)
                found.update(self._select(conn, [t for (t,) in new]))
            # remembered only once the transaction commits (see committed/rolled_back)
            self._pending.update((t, found[t]) for t in missing)
        return found

    def committed(self) -> None:
        with self._lock:
            self._ids.update(self._pending)
        self._pending = {}

    def rolled_back(self) -> None:
        self._pending = {}

    @staticmethod
    def _select(conn: sqlite3.Connection, tokens: list[str]) -> dict[str, int]:
        rows = conn.execute(
            "SELECT term, id FROM terms WHERE term IN (SELECT value FROM json_each(?))",
            (json.dumps(tokens, ensure_ascii=False),),
        )
        return dict(rows)

    def lookup(self, conn: sqlite3.Connection, tokens: tuple[str, ...]) -> list[int | None]:
        """Ids of query terms (None: no asset ever held the term)."""
        found = self._select(conn, list(tokens))
        return [found.get(t) for t in tokens]


def encode_terms(
    batch: list[AssetTerms], terms: TermDictionary, conn: sqlite3.Connection
) -> tuple[list[bytes], list[bytes]]:
    """Per asset, its `doc_terms` blobs (metadata records, tag records); new terms get ids."""
    meta_tokens: list[str] = []
    tag_tokens: list[str] = []
    meta_ends: list[int] = []
    tag_ends: list[int] = []
    for analyzed in batch:
        if analyzed.meta_tokens:
            meta_tokens += analyzed.meta_tokens.split(TOKEN_SEPARATOR)
        if analyzed.tag_tokens:
            tag_tokens += analyzed.tag_tokens.split(TOKEN_SEPARATOR)
        meta_ends.append(len(meta_tokens))
        tag_ends.append(len(tag_tokens))
    ids = terms.ids_for_write(conn, {*meta_tokens, *tag_tokens})
    meta = encode_meta(
        [ids[t] for t in meta_tokens],
        np.frombuffer(b"".join(a.meta_fields for a in batch), np.uint8),
    )
    tags = encode_tags(
        [ids[t] for t in tag_tokens],
        np.frombuffer(b"".join(a.tag_channels for a in batch), np.uint8),
        np.frombuffer(b"".join(a.tag_confidences for a in batch), np.float64),
    )
    return _cut(meta.tobytes(), meta_ends), _cut(tags.tobytes(), tag_ends)


def _cut(blob: bytes, ends: list[int]) -> list[bytes]:
    size = len(blob) // ends[-1] if ends and ends[-1] else 0
    out, start = [], 0
    for end in ends:
        out.append(blob[start * size : end * size])
        start = end
    return out


def read_state(conn: sqlite3.Connection) -> tuple[str, int]:
    """(index generation, change-log position) as this connection's transaction sees them."""
    generation, seq = conn.execute(
        "SELECT (SELECT value FROM index_meta WHERE key = ?), (SELECT MAX(seq) FROM changes)",
        (GENERATION_KEY,),
    ).fetchone()
    return generation or "", seq or 0


def _doc_rows(rows: list[tuple]) -> DocRows:
    return DocRows(
        rowids=np.array([r[0] for r in rows], np.int64),
        ids=[r[1] for r in rows],
        folders=[r[2] for r in rows],
        media=[r[3] for r in rows],
        created=[r[4] for r in rows],
        meta=[r[5] for r in rows],
        tags=[r[6] for r in rows],
    )


class SqliteTermIndex:
    """One process's term index over one SQLite file (shared by its threads)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = MergePolicy(settings.index_merge_factor, settings.index_max_segments)
        self._snap: Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self, conn: sqlite3.Connection) -> Snapshot:
        """The index as of `conn`'s read transaction, or a newer one if another thread already
        went further (the caller compares `seq` with `read_state`)."""
        generation, seq = read_state(conn)
        snap = self._snap
        if snap is not None and snap.generation == generation and snap.seq >= seq:
            return snap
        with self._lock:
            snap = self._snap
            if snap is None or snap.generation != generation or self._must_rebuild(conn, snap, seq):
                snap = self._build(conn, generation, seq)
            elif snap.seq < seq:
                snap = self._catch_up(conn, snap, seq)
            self._snap = snap
        return snap

    def forget(self) -> None:
        self._snap = None

    def _must_rebuild(self, conn: sqlite3.Connection, snap: Snapshot, seq: int) -> bool:
        if snap.seq >= seq:
            return False
        oldest = conn.execute("SELECT MIN(seq) FROM changes").fetchone()[0] or 0
        if oldest > snap.seq + 1:
            return True  # the log no longer holds every change since this snapshot
        behind = seq - snap.seq
        return behind > max(self.settings.index_rebuild_min_changes, snap.live) or (
            snap.stale_docs > snap.live
        )

    def _build(self, conn: sqlite3.Connection, generation: str, seq: int) -> Snapshot:
        """Every asset, read in chunks (one segment each), merged into one segment."""
        quantum = self.settings.weight_quantum
        cursor = conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM assets a JOIN doc_terms t ON t.rowid = a.rowid "
            "ORDER BY a.rowid"
        )
        snap = build_snapshot(generation, seq, _doc_rows([]), quantum)
        grow = MergePolicy(factor=0, max_segments=1 << 30)  # merged once, at the end
        while rows := cursor.fetchmany(self.settings.index_build_chunk):
            snap = apply_changes(snap, _doc_rows(rows), np.empty(0, np.int64), seq, quantum, grow)
        return _single_segment(snap, quantum)

    def _catch_up(self, conn: sqlite3.Connection, snap: Snapshot, seq: int) -> Snapshot:
        changed = np.array(
            [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT asset FROM changes WHERE seq > ? AND seq <= ?",
                    (snap.seq, seq),
                )
            ],
            np.int64,
        )
        rows = conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM assets a JOIN doc_terms t ON t.rowid = a.rowid "
            "WHERE a.rowid IN (SELECT DISTINCT asset FROM changes WHERE seq > ? AND seq <= ?) "
            "ORDER BY a.rowid",
            (snap.seq, seq),
        ).fetchall()
        written = _doc_rows(rows)
        deleted = np.setdiff1d(changed, written.rowids)
        quantum = self.settings.weight_quantum
        return apply_changes(snap, written, deleted, seq, quantum, self.policy)


def _single_segment(snap: Snapshot, quantum: int) -> Snapshot:
    if len(snap.segments) <= 1:
        return snap
    parts = [
        (seg, snap.doc_segment[seg.meta_doc] == i, snap.doc_segment[seg.tag_doc] == i)
        for i, seg in enumerate(snap.segments)
    ]
    merged = merge_segments(parts, quantum)
    doc_segment = snap.doc_segment.copy()
    doc_segment[doc_segment >= 0] = 0
    return Snapshot(
        generation=snap.generation,
        seq=snap.seq,
        segments=(merged,),
        stale=(0,),
        doc_segment=doc_segment,
        media=snap.media,
        folder=snap.folder,
        id_key=snap.id_key,
        created=snap.created,
        folders=snap.folders,
        folder_count=snap.folder_count,
        live=snap.live,
    )
