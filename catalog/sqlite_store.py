"""The embedded default store: one SQLite file (WAL) under the data directory."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

from catalog.asset import Asset, utc_now
from catalog.audit import AuditEntry, ModerationAction
from catalog.effective import META_FIELDS
from catalog.folders import FolderSetting
from catalog.settings import Settings
from catalog.sqlite_index import (
    PreparedAsset,
    SqliteTermIndex,
    TermDictionary,
    encode_terms,
    prepare,
    read_state,
)
from catalog.sqlite_schema import (
    FRAMES_DB,
    FRAMES_SCHEMA,
    backup,
    current_version,
    migrate,
    new_generation,
)
from catalog.sqlite_vectors import (
    SqliteVectorIndex,
    delete_vectors,
    read_asset_vectors,
    read_frame_scores,
    write_vectors,
)
from catalog.store import (
    PostingsSearch,
    RankedHit,
    RankedPage,
    RebuildProgress,
    RebuildReport,
    StoreError,
    StoreStats,
    Versioned,
)
from catalog.tag_thresholds import TagThreshold
from catalog.term_index import MEDIA_CODE
from catalog.term_rows import FIELD_BIT
from catalog.term_search import TagOverrides, execute
from catalog.vector_search import execute_with_semantic
from catalog.vectors import AssetVectors, FrameScores, SemanticQuery, VectorUpdate

WRITE_BATCH = 500
SNAPSHOT_TRIES = 3  # read transactions a search tries to find the index at its own position


def _damaged(path: Path, exc: Exception) -> str:
    return (
        f"{path} is not a smarttags database or is damaged ({exc}); restore it from a .bak "
        "copy beside it, or move it away to start an empty catalog"
    )


def _sortable(value: datetime) -> str:
    """A time as text that sorts in time order (UTC, fixed width); naive times are UTC."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once so that what it reads stays true until COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _json_list(values: Iterable) -> str:
    return json.dumps(list(values), ensure_ascii=False)


class _PendingWrites:
    """One batch's rows, written with one executemany per statement."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.inserts: list[tuple] = []
        self.updates: list[tuple] = []
        self.rowids: list[int] = []
        self.prepared: list[PreparedAsset] = []
        self.vectors: list[tuple[int, VectorUpdate]] = []

    def add(
        self, item: PreparedAsset, rowid: int, exists: bool, vectors: VectorUpdate = None
    ) -> None:
        values = (
            item.id,
            item.folder,
            item.media_type,
            item.status,
            item.created_at,
            item.updated_at,
            rowid,
        )
        (self.updates if exists else self.inserts).append(values)
        self.add_derived(item, rowid)
        if vectors is not None:
            self.vectors.append((rowid, vectors))

    def add_derived(self, item: PreparedAsset, rowid: int) -> None:
        self.ids.add(item.id)
        self.rowids.append(rowid)
        self.prepared.append(item)

    def flush(self, conn: sqlite3.Connection, terms: TermDictionary, docs: bool = True) -> None:
        """Write the batch; `docs=False` rewrites only the derived rows (index rebuild)."""
        if not self.rowids:
            return
        conn.executemany(
            "UPDATE assets SET id=?, folder=?, media_type=?, status=?, created_at=?, "
            "updated_at=?, version = version + 1 WHERE rowid = ?",
            self.updates,
        )
        conn.executemany(
            "INSERT INTO assets (id, folder, media_type, status, created_at, updated_at, rowid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.inserts,
        )
        if docs:
            conn.executemany(
                "INSERT OR REPLACE INTO docs (rowid, doc, tags) VALUES (?, ?, ?)",
                [
                    (rowid, p.doc, p.terms.machine_tags)
                    for rowid, p in zip(self.rowids, self.prepared, strict=True)
                ],
            )
        metas, tags = encode_terms([p.terms for p in self.prepared], terms, conn)
        conn.executemany(
            "INSERT OR REPLACE INTO doc_terms (rowid, meta, tags) VALUES (?, ?, ?)",
            zip(self.rowids, metas, tags, strict=True),
        )
        write_vectors(conn, self.vectors)
        conn.executemany("INSERT INTO changes (asset) VALUES (?)", [(r,) for r in self.rowids])


class SqliteStore:
    name = "sqlite"
    dialect = "postings"

    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.settings = settings
        self.path = Path(path or settings.sqlite_path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data directory {self.path.parent}: {exc.strerror}; "
                "set SMARTTAGS_DATA_DIR to a writable folder"
            ) from None
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._terms = TermDictionary()
        self._index = SqliteTermIndex(settings, self.path)
        self._vectors = SqliteVectorIndex(settings)
        try:
            self.backup_written = migrate(self._conn(), self.path, finish=self._derive_missing)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(_damaged(self.path, exc)) from None
        except BaseException:
            self._terms.rolled_back()
            raise
        self._terms.committed()

    # connections: one per thread, so API worker threads read concurrently under WAL
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.settings.sqlite_busy_timeout_s,
            )
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(_damaged(self.path, exc)) from None
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{self.settings.sqlite_cache_mb * 1024}")
        conn.execute(f"PRAGMA mmap_size = {self.settings.sqlite_cache_mb * 1024 * 1024}")
        conn.execute("PRAGMA temp_store = MEMORY")
        self._attach_frames(conn)
        return conn

    def _attach_frames(self, conn: sqlite3.Connection) -> None:
        """The frame vectors' own file (catalog/sqlite_schema.py, FRAMES_SCHEMA)."""
        try:
            conn.execute(f"ATTACH DATABASE ? AS {FRAMES_DB}", (str(self.frames_path),))
            conn.execute(f"PRAGMA {FRAMES_DB}.journal_mode = WAL")
            conn.execute(f"PRAGMA {FRAMES_DB}.synchronous = NORMAL")
            conn.execute(FRAMES_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.frames_path} is damaged ({exc}): delete it and re-tag the library "
                "(`smarttags reindex`) to write the frame vectors again"
            ) from None

    @property
    def frames_path(self) -> Path:
        return self.path.with_name(self.path.name + ".frames")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self._index.forget()
        self._vectors.forget()

    @contextmanager
    def _writing(self, conn: sqlite3.Connection) -> Iterator[None]:
        """A write transaction; term ids it assigned are remembered only once it commits."""
        try:
            with _immediate(conn):
                yield
                self._prune_changes(conn)
        except BaseException:
            self._terms.rolled_back()
            raise
        self._terms.committed()

    def _prune_changes(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - ?",
            (self.settings.sqlite_change_log_keep,),
        )

    # writes
    def row_builder(self) -> Callable[[Asset], PreparedAsset]:
        """What import worker processes turn each asset into, for `write_rows`."""
        return partial(prepare, quantum=self.settings.weight_quantum)

    def write_rows(self, rows: list[PreparedAsset]) -> int:
        """Write prepared assets (see `row_builder`) in order, as `upsert_many` would."""
        conn = self._conn()
        for start in range(0, len(rows), self.settings.import_batch):
            batch = rows[start : start + self.settings.import_batch]
            with self._writing(conn):
                self._stage(conn, batch).flush(conn, self._terms)
        return len(rows)

    def upsert_many(self, assets: Iterable[Asset]) -> int:
        conn = self._conn()
        written = 0
        batch: list[Asset] = []
        for asset in assets:
            batch.append(asset)
            if len(batch) >= WRITE_BATCH:
                written += self._write_batch(conn, batch)
                batch = []
        if batch:
            written += self._write_batch(conn, batch)
        return written

    def _write_batch(self, conn: sqlite3.Connection, batch: list[Asset]) -> int:
        with self._writing(conn):
            self._stage(conn, [self._prepare_in_place(conn, a) for a in batch]).flush(
                conn, self._terms
            )
        return len(batch)

    def _prepare_in_place(self, conn: sqlite3.Connection, asset: Asset) -> PreparedAsset:
        """An asset about to be written here and now: an update without explicit times keeps
        the creation time and stamps the update."""
        update: dict = {}
        if "updated_at" not in asset.model_fields_set:
            update["updated_at"] = utc_now()
        if update:
            asset = asset.model_copy(update=update)
        return prepare(asset, self.settings.weight_quantum)

    def _stage(
        self,
        conn: sqlite3.Connection,
        batch: list[PreparedAsset],
        vectors: dict[str, VectorUpdate] | None = None,
    ) -> _PendingWrites:
        """The batch's rows; flushes early when an id comes twice (the second sees the first).
        `vectors`: per id, what the write does to the asset's vectors (absent: keep them)."""
        vectors = vectors or {}
        known = self._known(conn, [p.id for p in batch])
        next_rowid = conn.execute("SELECT COALESCE(MAX(rowid), 0) + 1 FROM assets").fetchone()[0]
        pending = _PendingWrites()
        for item in batch:
            if item.id in pending.ids:
                pending.flush(conn, self._terms)
                pending = _PendingWrites()
            found = known.get(item.id)
            if found and not item.created_explicit and item.created_at != found[1]:
                item = _with_created_at(item, found[1])
            if found:
                rowid = found[0]
            else:
                rowid, next_rowid = next_rowid, next_rowid + 1
                known[item.id] = (rowid, item.created_at)
            pending.add(item, rowid, found is not None, vectors.get(item.id))
        return pending

    def _known(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[int, str]]:
        """rowid and created_at of the ids already stored."""
        rows = conn.execute(
            "SELECT id, rowid, created_at FROM assets WHERE id IN (SELECT value FROM json_each(?))",
            (_json_list(ids),),
        ).fetchall()
        return {i: (rowid, created) for i, rowid, created in rows}

    def _derive_missing(self, conn: sqlite3.Connection) -> None:
        """Derive the index rows of documents that have none (after the v3 migration)."""
        cursor = conn.execute(
            "SELECT rowid, doc FROM docs WHERE rowid NOT IN (SELECT rowid FROM doc_terms) "
            "ORDER BY rowid"
        )
        while batch := cursor.fetchmany(WRITE_BATCH):
            self._rederive(conn, batch)

    def _rederive(self, conn: sqlite3.Connection, batch: list[tuple[int, str]]) -> None:
        pending = _PendingWrites()
        for rowid, doc in batch:
            asset = Asset.model_validate_json(doc)
            pending.add_derived(prepare(asset, self.settings.weight_quantum), rowid)
        pending.flush(conn, self._terms, docs=False)

    def delete(self, asset_id: str) -> bool:
        conn = self._conn()
        with self._writing(conn):
            row = conn.execute("SELECT rowid FROM assets WHERE id = ?", (asset_id,)).fetchone()
            if row:
                for table in ("doc_terms", "docs", "assets"):
                    conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (row[0],))
                delete_vectors(conn, [row[0]])
                conn.execute("INSERT INTO changes (asset) VALUES (?)", (row[0],))
        return row is not None

    # optimistic concurrency: `assets.version` counts the writes of a row
    def read(self, asset_id: str) -> Versioned | None:
        row = (
            self._conn()
            .execute(
                "SELECT d.doc, a.version FROM assets a JOIN docs d ON d.rowid = a.rowid "
                "WHERE a.id = ?",
                (asset_id,),
            )
            .fetchone()
        )
        return Versioned(Asset.model_validate_json(row[0]), str(row[1])) if row else None

    def replace(self, asset: Asset, expected: str | None, vectors: VectorUpdate = None) -> bool:
        conn = self._conn()
        with self._writing(conn):
            row = conn.execute("SELECT version FROM assets WHERE id = ?", (asset.id,)).fetchone()
            current = str(row[0]) if row else None
            if current != expected:
                return False
            prepared = [self._prepare_in_place(conn, asset)]
            self._stage(conn, prepared, {asset.id: vectors}).flush(conn, self._terms)
        return True

    def read_many(self, asset_ids: list[str]) -> dict[str, Versioned]:
        """`read` for many ids at once (absent ids are left out)."""
        found: dict[str, Versioned] = {}
        conn = self._conn()
        for start in range(0, len(asset_ids), WRITE_BATCH):
            chunk = asset_ids[start : start + WRITE_BATCH]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT a.id, d.doc, a.version FROM assets a JOIN docs d ON d.rowid = a.rowid "
                f"WHERE a.id IN ({marks})",
                chunk,
            )
            for asset_id, doc, version in rows:
                found[asset_id] = Versioned(Asset.model_validate_json(doc), str(version))
        return found

    def replace_many(
        self,
        writes: list[tuple[Asset, str | None]],
        vectors: dict[str, VectorUpdate] | None = None,
    ) -> list[bool]:
        """`replace` for many assets in one transaction: each is written if its stored
        version is still the expected one; the result says which were. `vectors`: per id,
        as `replace` takes them."""
        conn = self._conn()
        done: list[bool] = []
        with self._writing(conn):
            ids = [asset.id for asset, _ in writes]
            versions: dict[str, str] = {}
            for start in range(0, len(ids), WRITE_BATCH):
                chunk = ids[start : start + WRITE_BATCH]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT id, version FROM assets WHERE id IN ({marks})", chunk)
                versions.update({i: str(v) for i, v in rows})
            accepted: dict[str, Asset] = {}
            for asset, expected in writes:
                ok = versions.get(asset.id) == expected and asset.id not in accepted
                done.append(ok)
                if ok:
                    accepted[asset.id] = asset
            if accepted:
                prepared = [self._prepare_in_place(conn, a) for a in accepted.values()]
                self._stage(conn, prepared, vectors).flush(conn, self._terms)
        return done

    # folder settings and the audit log
    def folder_settings(self) -> list[FolderSetting]:
        rows = self._conn().execute("SELECT setting FROM folder_settings ORDER BY folder")
        return [FolderSetting.model_validate_json(setting) for (setting,) in rows]

    def save_folder_setting(self, setting: FolderSetting) -> None:
        conn = self._conn()
        if setting.is_default:
            conn.execute("DELETE FROM folder_settings WHERE folder = ?", (setting.folder,))
            return
        conn.execute(
            "INSERT OR REPLACE INTO folder_settings (folder, setting) VALUES (?, ?)",
            (setting.folder, setting.model_dump_json()),
        )

    def add_audit(self, entry: AuditEntry) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO audit (id, at, asset_id, doc) VALUES (?, ?, ?, ?)",
            (entry.id, _sortable(entry.at), entry.asset_id, entry.model_dump_json()),
        )

    def audit_log(
        self, asset_id: str | None = None, limit: int = 100, tag: str | None = None
    ) -> list[AuditEntry]:
        clauses, params = [], []
        if asset_id is not None:
            clauses.append("asset_id = ?")
            params.append(asset_id)
        if tag is not None:  # the expression of the audit_tag index
            clauses.append("json_extract(doc, '$.tag') = ? AND json_extract(doc, '$.action') != ?")
            params += [tag, ModerationAction.folder.value]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn().execute(
            f"SELECT doc FROM audit {where} ORDER BY at DESC, seq DESC LIMIT ?", [*params, limit]
        )
        return [AuditEntry.model_validate_json(doc) for (doc,) in rows]

    # learned per-tag thresholds
    def tag_thresholds(self) -> list[TagThreshold]:
        rows = self._conn().execute("SELECT doc FROM tag_thresholds ORDER BY tag")
        return [TagThreshold.model_validate_json(doc) for (doc,) in rows]

    def save_tag_thresholds(self, records: list[TagThreshold]) -> None:
        self._conn().executemany(
            "INSERT OR REPLACE INTO tag_thresholds (tag, doc) VALUES (?, ?)",
            [(r.tag, r.model_dump_json()) for r in records],
        )

    def delete_tag_thresholds(self, tags: list[str]) -> None:
        self._conn().executemany("DELETE FROM tag_thresholds WHERE tag = ?", [(t,) for t in tags])

    def recently_tagged(self, limit: int, folder: str = "") -> list[Asset]:
        where, params = _filters(folder, None)
        rows = self._conn().execute(
            # the expression of the docs_tagged_at index, which gives this order
            f"SELECT d.doc FROM docs d JOIN assets a ON a.rowid = d.rowid WHERE {where} "
            "AND json_extract(d.doc, '$.tagged_at') IS NOT NULL "
            "ORDER BY json_extract(d.doc, '$.tagged_at') DESC LIMIT :limit",
            {**params, "limit": limit},
        )
        return [Asset.model_validate_json(doc) for (doc,) in rows]

    # index rebuild: the index rows re-derived from the stored documents
    def rebuild_index(self, progress: RebuildProgress | None = None) -> RebuildReport:
        """One transaction: readers (WAL) answer from their snapshot until it commits, and
        writers wait for it (up to the busy timeout). A new index generation makes every
        process rebuild its in-memory index from the new rows."""
        conn = self._conn()
        saved = backup(conn, self.path, current_version(conn))
        done = 0
        with self._writing(conn):
            total = conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
            conn.execute("DELETE FROM doc_terms")
            for batch in self._doc_batches(conn):
                self._rederive(conn, batch)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
            new_generation(conn)
        return RebuildReport(new=f"sqlite:{self.path}", old=[], documents=done, backup=str(saved))

    def _doc_batches(self, conn: sqlite3.Connection) -> Iterator[list[tuple[int, str]]]:
        # pages by rowid: the batch's rows are rewritten before the next page is read
        last = 0
        while True:
            batch = conn.execute(
                "SELECT rowid, doc FROM docs WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, WRITE_BATCH),
            ).fetchall()
            if not batch:
                return
            yield batch
            last = batch[-1][0]

    def drop_old_indices(self) -> list[str]:
        return []  # a rebuild rewrites the one database in place: nothing is left behind

    # reads
    def get(self, asset_id: str) -> Asset | None:
        row = (
            self._conn()
            .execute(
                "SELECT d.doc FROM assets a JOIN docs d ON d.rowid = a.rowid WHERE a.id = ?",
                (asset_id,),
            )
            .fetchone()
        )
        return Asset.model_validate_json(row[0]) if row else None

    def _docs(self, conn: sqlite3.Connection, rowids: list[int]) -> dict[int, Asset]:
        if not rowids:
            return {}
        rows = conn.execute(
            "SELECT rowid, doc FROM docs WHERE rowid IN (SELECT value FROM json_each(?))",
            (_json_list(rowids),),
        )
        return {r: Asset.from_stored_json(doc) for r, doc in rows}

    def _ids(self, conn: sqlite3.Connection, rowids: np.ndarray) -> list[str]:
        found = dict(
            conn.execute(
                "SELECT rowid, id FROM assets WHERE rowid IN (SELECT value FROM json_each(?))",
                (_json_list(int(r) for r in rowids),),
            )
        )
        return [found.get(int(r), "") for r in rowids]

    def execute_search(self, compiled: PostingsSearch) -> RankedPage:  # type: ignore[override]
        if compiled.semantic is not None:
            return self._execute_semantic(compiled)
        conn = self._conn()
        for attempt in range(SNAPSHOT_TRIES):
            # one read transaction: the index position, the page's documents and the total
            # come from one snapshot of the file
            conn.execute("BEGIN")
            try:
                snap = self._index.snapshot(conn)
                if snap.seq != read_state(conn)[1] and attempt < SNAPSHOT_TRIES - 1:
                    continue  # another thread moved the index past this transaction: retry
                term_ids = self._terms.lookup(conn, compiled.terms)
                overrides = self._overrides(conn, compiled.tag_thresholds)
                result = execute(snap, compiled, term_ids, partial(self._ids, conn), overrides)
                docs = self._docs(conn, [hit[0] for hit in result.hits])
            finally:
                conn.execute("COMMIT")
            hits = [
                RankedHit(docs[r], score, _FIELD_NAMES[mask])
                for r, score, mask in result.hits
                if r in docs
            ]
            return RankedPage(result.total, hits)
        raise AssertionError("unreachable")

    def _overrides(
        self, conn: sqlite3.Connection, thresholds: tuple[tuple[str, float], ...]
    ) -> TagOverrides | None:
        """Per-tag thresholds by the term ids of the names (a name never stored has none)."""
        if not thresholds:
            return None
        ids = self._terms.lookup(conn, tuple(name for name, _ in thresholds))
        pairs = [(i, value) for i, (_, value) in zip(ids, thresholds, strict=True) if i is not None]
        return TagOverrides.of(pairs)

    def _execute_semantic(self, compiled: PostingsSearch) -> RankedPage:
        """A search with a semantic stage (catalog/vector_search.py): the term and vector
        indexes at one position of the change log, the page's documents and frames read in
        the same transaction."""
        stage = compiled.semantic
        assert stage is not None
        conn = self._conn()
        for attempt in range(SNAPSHOT_TRIES):
            conn.execute("BEGIN")
            try:
                snap = self._index.snapshot(conn)
                vectors = self._vectors.snapshot(conn)
                seq = read_state(conn)[1]
                if (snap.seq, vectors.seq) != (seq, seq) and attempt < SNAPSHOT_TRIES - 1:
                    continue  # another thread moved an index past this transaction: retry
                term_ids = self._terms.lookup(conn, compiled.terms)
                exclude = self._rowid(conn, stage.exclude) if stage.exclude else None
                overrides = self._overrides(conn, compiled.tag_thresholds)
                result = execute_with_semantic(
                    snap, vectors, compiled, term_ids, partial(self._ids, conn), exclude, overrides
                )
                rowids = [hit[0] for hit in result.hits]
                docs = self._docs(conn, rowids)
                frames = self._hit_frames(conn, snap, result.hits, stage.query, stage.moments)
            finally:
                conn.execute("COMMIT")
            hits = [
                RankedHit(docs[r], score, _FIELD_NAMES[mask], similarity, frames.get(r))
                for r, score, mask, similarity in result.hits
                if r in docs
            ]
            return RankedPage(result.total, hits)
        raise AssertionError("unreachable")

    def _hit_frames(
        self, conn: sqlite3.Connection, snap, hits, query: SemanticQuery, moments: bool
    ) -> dict[int, FrameScores]:
        """The frames of the page's semantic video hits, scored."""
        if not moments:
            return {}
        video = MEDIA_CODE["video"]
        wanted = [
            r for r, _, _, similarity in hits if similarity is not None and snap.media[r] == video
        ]
        return read_frame_scores(conn, wanted, query)

    def _rowid(self, conn: sqlite3.Connection, asset_id: str) -> int | None:
        row = conn.execute("SELECT rowid FROM assets WHERE id = ?", (asset_id,)).fetchone()
        return row[0] if row else None

    # semantic search: vectors beside the documents
    def read_vectors(self, asset_id: str) -> AssetVectors | None:
        conn = self._conn()
        rowid = self._rowid(conn, asset_id)
        return None if rowid is None else read_asset_vectors(conn, rowid)

    def vector_count(self, model_id: str) -> int:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            return self._vectors.snapshot(conn).count(model_id)
        finally:
            conn.execute("COMMIT")

    def frame_scores(
        self, asset_ids: list[str], query: SemanticQuery
    ) -> dict[str, FrameScores]:
        conn = self._conn()
        rowids = {}
        for asset_id in asset_ids:
            rowid = self._rowid(conn, asset_id)
            if rowid is not None:
                rowids[rowid] = asset_id
        scored = read_frame_scores(conn, list(rowids), query)
        return {rowids[r]: frames for r, frames in scored.items()}

    def vector_stats(self) -> dict[str, int]:
        """The in-memory vector index of this process: assets per model and bytes."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            snap = self._vectors.snapshot(conn)
        finally:
            conn.execute("COMMIT")
        return {"bytes": snap.nbytes, **{m: v.live for m, v in snap.models.items()}}

    def iter_assets(self, folder: str = "") -> Iterator[Asset]:
        where, params = _filters(folder, None)
        cursor = self._connect().execute(
            f"SELECT d.doc FROM assets a JOIN docs d ON d.rowid = a.rowid WHERE {where} "
            "ORDER BY a.id",
            params,
        )
        try:
            for (doc,) in cursor:
                yield Asset.model_validate_json(doc)
        finally:
            cursor.connection.close()

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM assets").fetchone()[0]

    def folder_counts(self, limit: int) -> dict[str, int]:
        rows = self._conn().execute(
            "SELECT folder, COUNT(*) FROM assets GROUP BY folder ORDER BY folder LIMIT ?", (limit,)
        )
        return dict(rows)

    def index_stats(self) -> dict[str, int]:
        """The in-memory term index of this process: documents, segments, postings, bytes."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            snap = self._index.snapshot(conn)
        finally:
            conn.execute("COMMIT")
        return {
            "documents": snap.live,
            "segments": len(snap.segments),
            "postings": sum(s.postings for s in snap.segments),
            "bytes": snap.nbytes,
        }

    def stats(self) -> StoreStats:
        conn = self._conn()
        by_type = dict(conn.execute("SELECT media_type, COUNT(*) FROM assets GROUP BY 1"))
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM assets GROUP BY 1"))
        tags = conn.execute(
            "SELECT COUNT(DISTINCT t.value) FROM docs d, json_each(d.tags) t"
        ).fetchone()[0]
        folders = conn.execute("SELECT COUNT(DISTINCT folder) FROM assets").fetchone()[0]
        return StoreStats(
            self.name, str(self.path), sum(by_type.values()), by_type, by_status, tags, folders
        )

    def check(self) -> str:
        conn = self._conn()
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise StoreError(f"{self.path} failed its integrity check: {result}")
        return f"SQLite {sqlite3.sqlite_version} at {self.path} (WAL, integrity ok)"


def _filters(folder: str, media_type: str | None) -> tuple[str, dict[str, str]]:
    clauses, params = ["1"], {}
    if folder:
        # '0' sorts right after '/': the range is exactly the folder's subtree
        clauses.append("(a.folder = :f OR (a.folder >= :lo AND a.folder < :hi))")
        params.update(f=folder, lo=folder + "/", hi=folder + "0")
    if media_type:
        clauses.append("a.media_type = :media_type")
        params["media_type"] = media_type
    return " AND ".join(clauses), params


# the metadata field names of each field mask
_FIELD_NAMES = [
    tuple(f for f in META_FIELDS if mask & FIELD_BIT[f]) for mask in range(1 << len(META_FIELDS))
]


def _with_created_at(item: PreparedAsset, created_at: str) -> PreparedAsset:
    """An existing asset written without an explicit creation time keeps the stored one."""
    asset = Asset.model_validate_json(item.doc)
    asset = asset.model_copy(update={"created_at": datetime.fromisoformat(created_at)})
    return item._replace(created_at=created_at, doc=asset.model_dump_json())
