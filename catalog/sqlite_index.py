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
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from catalog import term_cache
from catalog.asset import Asset
from catalog.settings import Settings
from catalog.sqlite_schema import GENERATION_KEY, INDEX_CACHE_KEY
from catalog.term_index import (
    META_DTYPE,
    TAG_DTYPE,
    DocRows,
    MergePolicy,
    Snapshot,
    SnapshotBuilder,
    apply_changes,
    encode_meta,
    encode_tags,
)
from catalog.term_rows import NAME_SEPARATOR, TOKEN_SEPARATOR, AssetTerms, asset_terms

log = logging.getLogger("smarttags.sqlite")
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
    """Per asset, its `doc_terms` blobs (metadata records, tag records); new terms get ids.
    Tag names get ids from the same dictionary (a name is never a query term unless it is
    one token, and then its postings are that token's)."""
    meta_tokens: list[str] = []
    tag_tokens: list[str] = []
    tag_names: list[str] = []
    meta_ends: list[int] = []
    tag_ends: list[int] = []
    for analyzed in batch:
        if analyzed.meta_tokens:
            meta_tokens += analyzed.meta_tokens.split(TOKEN_SEPARATOR)
        if analyzed.tag_tokens:
            tag_tokens += analyzed.tag_tokens.split(TOKEN_SEPARATOR)
            tag_names += analyzed.tag_names.split(NAME_SEPARATOR)
        meta_ends.append(len(meta_tokens))
        tag_ends.append(len(tag_tokens))
    ids = terms.ids_for_write(conn, {*meta_tokens, *tag_tokens, *tag_names})
    meta = encode_meta(
        [ids[t] for t in meta_tokens],
        np.frombuffer(b"".join(a.meta_fields for a in batch), np.uint8),
    )
    tags = encode_tags(
        [ids[t] for t in tag_tokens],
        np.frombuffer(b"".join(a.tag_channels for a in batch), np.uint8),
        np.frombuffer(b"".join(a.tag_confidences for a in batch), np.float64),
        [ids[n] for n in tag_names],
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

    def __init__(self, settings: Settings, db_path: Path) -> None:
        self.settings = settings
        self.db_path = db_path
        self.cache_dir = db_path.with_name(db_path.name + ".index")
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
            if snap is None or snap.generation != generation:
                snap = self._saved(conn, generation)
            if snap is None or self._must_rebuild(conn, snap, seq):
                snap = self._build(conn, generation, seq)
                self._save(snap)
            elif snap.seq < seq:
                snap = self._catch_up(conn, snap, seq)
            self._snap = snap
        return snap

    # the saved snapshot (catalog/term_cache.py): valid only under the name the database records
    def _saved(self, conn: sqlite3.Connection, generation: str) -> Snapshot | None:
        if self.settings.index_cache_min_assets is None:
            return None
        row = conn.execute(
            "SELECT value FROM index_meta WHERE key = ?", (INDEX_CACHE_KEY,)
        ).fetchone()
        if row is None:
            return None
        return term_cache.load(self.cache_dir / row[0], generation, self.settings.weight_quantum)

    def _save(self, snap: Snapshot) -> None:
        least = self.settings.index_cache_min_assets
        if least is None or snap.live < least:
            return
        try:
            self.cache_dir.mkdir(exist_ok=True)
            name = term_cache.save(snap, self.cache_dir, self.settings.weight_quantum)
        except OSError as exc:
            log.warning("the term index could not be saved in %s: %s", self.cache_dir, exc)
            return
        if self._record(name, snap.generation):
            term_cache.remove_others(self.cache_dir, keep=name)
        else:
            shutil.rmtree(self.cache_dir / name, ignore_errors=True)

    def _record(self, name: str, generation: str) -> bool:
        """Name the saved snapshot in the database, if its generation is still current: a
        database restored from a backup then names its own, older snapshot, or none."""
        conn = sqlite3.connect(
            self.db_path,
            isolation_level=None,
            timeout=self.settings.index_cache_record_timeout_s,
        )
        try:
            conn.execute("BEGIN IMMEDIATE")
            found = conn.execute(
                "SELECT value FROM index_meta WHERE key = ?", (GENERATION_KEY,)
            ).fetchone()
            if found is None or found[0] != generation:
                conn.execute("ROLLBACK")
                return False
            conn.execute(
                "INSERT OR REPLACE INTO index_meta (key, value) VALUES (?, ?)",
                (INDEX_CACHE_KEY, name),
            )
            conn.execute("COMMIT")
            return True
        except sqlite3.Error as exc:  # busy: the next build saves again
            log.info("the saved term index was not recorded: %s", exc)
            return False
        finally:
            conn.close()

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
        """Every asset, read in chunks into one segment (in `conn`'s read transaction)."""
        meta_bytes, tag_bytes = conn.execute(
            "SELECT COALESCE(SUM(length(meta)), 0), COALESCE(SUM(length(tags)), 0) FROM doc_terms"
        ).fetchone()
        builder = SnapshotBuilder(
            meta_bytes // META_DTYPE.itemsize, tag_bytes // TAG_DTYPE.itemsize
        )
        cursor = conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM assets a JOIN doc_terms t ON t.rowid = a.rowid "
            "ORDER BY a.rowid"
        )
        while rows := cursor.fetchmany(self.settings.index_build_chunk):
            builder.add(_doc_rows(rows))
        return builder.finish(generation, seq, self.settings.weight_quantum)

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
