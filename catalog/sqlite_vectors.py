"""The SQLite store's vectors: the rows of `asset_vectors` and `frames.frame_vectors` (see
catalog/sqlite_schema.py, v4), and one process's vector index kept in step with them.

Vector writes ride on the document writes: the store writes an asset's vectors in the
transaction of its document, whose `changes` entry tells every process to read them. A
search reads the index generation and change-log position in its read transaction and
catches the vector index up to exactly there, as the term index does (catalog/sqlite_index.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable

import numpy as np

from catalog.settings import Settings
from catalog.sqlite_index import read_state
from catalog.term_index import MergePolicy
from catalog.vector_index import (
    VECTOR_DTYPE,
    VectorRow,
    VectorSnapshot,
    apply_vector_changes,
    build_vectors,
)
from catalog.vectors import (
    FRAME_DTYPE,
    AssetVectors,
    ClearVectors,
    FrameScores,
    SemanticQuery,
    VectorUpdate,
)

_SPAN_DTYPE = np.float32


def write_vectors(
    conn: sqlite3.Connection, updates: Iterable[tuple[int, VectorUpdate]]
) -> None:
    """Write (rowid, update) pairs in the caller's transaction; None leaves a row as is."""
    assets, frames, cleared = [], [], []
    for rowid, update in updates:
        if update is None:
            continue
        if isinstance(update, ClearVectors):
            cleared.append((rowid,))
            continue
        vector = _blob(update.vector, VECTOR_DTYPE)
        assets.append((rowid, update.model_id, vector, update.median, update.spread))
        frames.append(
            (
                rowid,
                _blob(update.starts, _SPAN_DTYPE),
                _blob(update.ends, _SPAN_DTYPE),
                _blob(update.frames, FRAME_DTYPE),
                _blob(update.frame_medians, VECTOR_DTYPE),
                _blob(update.frame_spreads, VECTOR_DTYPE),
            )
        )
    if cleared:
        delete_vectors(conn, [r for (r,) in cleared])
    conn.executemany(
        "INSERT OR REPLACE INTO asset_vectors (rowid, model, vector, median, spread) "
        "VALUES (?, ?, ?, ?, ?)",
        assets,
    )
    conn.executemany(
        "INSERT OR REPLACE INTO frames.frame_vectors (rowid, starts, ends, vectors, medians, "
        "spreads) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        frames,
    )


def delete_vectors(conn: sqlite3.Connection, rowids: list[int]) -> None:
    for table in ("asset_vectors", "frames.frame_vectors"):
        conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(r,) for r in rowids])


def _blob(values: np.ndarray, dtype: np.dtype | type) -> bytes:
    return np.ascontiguousarray(values, dtype).tobytes()


def read_asset_vectors(conn: sqlite3.Connection, rowid: int) -> AssetVectors | None:
    row = conn.execute(
        "SELECT a.model, a.vector, a.median, a.spread, f.starts, f.ends, f.vectors, f.medians, "
        "f.spreads FROM asset_vectors a JOIN frames.frame_vectors f ON f.rowid = a.rowid "
        "WHERE a.rowid = ?",
        (rowid,),
    ).fetchone()
    if row is None:
        return None
    model, vector, median, spread, starts, ends, frames, medians, spreads = row
    asset_vector = np.frombuffer(vector, VECTOR_DTYPE)
    return AssetVectors(
        model_id=model,
        vector=asset_vector,
        median=median,
        spread=spread,
        frames=np.frombuffer(frames, FRAME_DTYPE).reshape(-1, len(asset_vector)),
        starts=np.frombuffer(starts, _SPAN_DTYPE),
        ends=np.frombuffer(ends, _SPAN_DTYPE),
        frame_medians=np.frombuffer(medians, VECTOR_DTYPE),
        frame_spreads=np.frombuffer(spreads, VECTOR_DTYPE),
    )


def read_frame_scores(
    conn: sqlite3.Connection, rowids: list[int], query: SemanticQuery
) -> dict[int, FrameScores]:
    """The frames of these rows scored against `query` (rows of another model left out), read
    in one statement."""
    if not rowids:
        return {}
    rows = conn.execute(
        "SELECT a.rowid, f.starts, f.ends, f.vectors, f.medians, f.spreads "
        "FROM asset_vectors a JOIN frames.frame_vectors f ON f.rowid = a.rowid "
        "WHERE a.model = ? AND a.rowid IN (SELECT value FROM json_each(?))",
        (query.model_id, json.dumps(rowids)),
    )
    dim = len(query.vector)
    vector = np.asarray(query.vector, VECTOR_DTYPE)
    found = {}
    for rowid, starts, ends, frames, medians, spreads in rows:
        rows_ = np.frombuffer(frames, FRAME_DTYPE).reshape(-1, dim).astype(VECTOR_DTYPE)
        if not len(rows_):
            continue
        scores = query.similarities(
            rows_ @ vector,
            np.frombuffer(medians, VECTOR_DTYPE),
            np.frombuffer(spreads, VECTOR_DTYPE),
        )
        starts_, ends_ = np.frombuffer(starts, _SPAN_DTYPE), np.frombuffer(ends, _SPAN_DTYPE)
        found[rowid] = FrameScores(starts_, ends_, scores)
    return found


_ROW_SELECT = "SELECT rowid, model, vector, median, spread FROM asset_vectors"


class SqliteVectorIndex:
    """One process's vector index over one SQLite file (shared by its threads)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = MergePolicy(settings.index_merge_factor, settings.index_max_segments)
        self._snap: VectorSnapshot | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        self._snap = None

    def snapshot(self, conn: sqlite3.Connection) -> VectorSnapshot:
        """The index as of `conn`'s read transaction, or a newer one (see SqliteTermIndex)."""
        generation, seq = read_state(conn)
        snap = self._snap
        if snap is not None and snap.generation == generation and snap.seq >= seq:
            return snap
        with self._lock:
            snap = self._snap
            if snap is None or snap.generation != generation or self._must_rebuild(conn, snap, seq):
                snap = build_vectors(generation, seq, conn.execute(f"{_ROW_SELECT} ORDER BY rowid"))
            elif snap.seq < seq:
                snap = self._catch_up(conn, snap, seq)
            self._snap = snap
        return snap

    def _must_rebuild(self, conn: sqlite3.Connection, snap: VectorSnapshot, seq: int) -> bool:
        if snap.seq >= seq:
            return False
        oldest = conn.execute("SELECT MIN(seq) FROM changes").fetchone()[0] or 0
        return oldest > snap.seq + 1  # the log no longer holds every change since the snapshot

    def _catch_up(self, conn: sqlite3.Connection, snap: VectorSnapshot, seq: int) -> VectorSnapshot:
        changed = "SELECT DISTINCT asset FROM changes WHERE seq > ? AND seq <= ?"
        touched = np.array([r for (r,) in conn.execute(changed, (snap.seq, seq))], np.int64)
        rows: list[VectorRow] = conn.execute(
            f"{_ROW_SELECT} WHERE rowid IN ({changed}) ORDER BY rowid", (snap.seq, seq)
        ).fetchall()
        return apply_vector_changes(snap, rows, touched, seq, self.policy)
