"""The embedded default store: one SQLite file (WAL) under the data directory."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from catalog.asset import Asset, TagKind, utc_now
from catalog.audit import AuditEntry
from catalog.effective import TagSource, indexed_tags, meta_tokens
from catalog.folders import FolderSetting
from catalog.settings import Settings
from catalog.sqlite_schema import POSTING_COLUMNS, backup, curated_bit, current_version, migrate
from catalog.store import (
    RankedHit,
    RankedPage,
    RebuildProgress,
    RebuildReport,
    SqlSearch,
    StoreError,
    StoreStats,
    Versioned,
)

WRITE_BATCH = 500
_KINDS = [kind.value for kind in TagKind]
# where a kind's confidence sits in a tag slot [curated, conf, weight, conf, weight, ...]
_KIND_SLOT = {kind: 1 + 2 * i for i, kind in enumerate(_KINDS)}
_INSERT_TAGGED = (
    f"INSERT INTO postings ({', '.join(POSTING_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(POSTING_COLUMNS))})"
)
# Most postings come from metadata alone: binding 3 values, not 10, makes them much cheaper.
FTS_COLUMNS = ("title", "keywords", "file_name", "description")
_INSERT_META_ONLY = "INSERT INTO postings (token, asset, meta, curated) VALUES (?, ?, ?, 0)"


def _damaged(path: Path, exc: Exception) -> str:
    return (
        f"{path} is not a smarttags database or is damaged ({exc}); restore it from a .bak "
        "copy beside it, or move it away to start an empty catalog"
    )


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _empty_slot() -> list:
    return [0, *([None] * 2 * len(_KINDS))]


class _Indexed(NamedTuple):
    """An asset's posting rows, (token, asset, meta) and full rows (POSTING_COLUMNS), and the
    names of its indexed machine tags (for stats)."""

    meta_only: list[tuple]
    tagged: list[tuple]
    machine_tags: list[str]
    text: tuple  # (rowid, title, keywords, file_name, description) for the FTS5 table


def _drop_postings(conn: sqlite3.Connection, rowids: list[int]) -> None:
    # docs.tokens lists an asset's postings: deleting by primary key needs no index on asset
    if not rowids:
        return
    marks = ",".join("?" * len(rowids))
    found = conn.execute(f"SELECT rowid, tokens FROM docs WHERE rowid IN ({marks})", rowids)
    keys = [(token, rowid) for rowid, tokens in found for token in tokens.split()]
    conn.executemany("DELETE FROM postings WHERE token = ? AND asset = ?", keys)
    conn.executemany("DELETE FROM asset_text WHERE rowid = ?", [(r,) for r in rowids])


class _PendingWrites:
    """One batch's rows, written with one executemany per statement."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.inserts: list[tuple] = []
        self.updates: list[tuple] = []
        self.docs: list[tuple[int, str, str, str]] = []
        self.meta_only: list[tuple] = []
        self.tagged: list[tuple] = []
        self.texts: list[tuple] = []

    def add(self, asset: Asset, rowid: int, exists: bool, indexed: _Indexed) -> None:
        values = (
            asset.id,
            asset.folder,
            asset.media_type.value,
            asset.status.value,
            _iso(asset.created_at),
            _iso(asset.updated_at),
            rowid,
        )
        (self.updates if exists else self.inserts).append(values)
        self.add_derived(asset, rowid, indexed)

    def add_derived(self, asset: Asset, rowid: int, indexed: _Indexed) -> None:
        """The rows derived from the document: its stored form, its postings and its text."""
        self.ids.add(asset.id)
        # model_dump_json is the to_json_dict() form, serialised without a detour through dicts
        tokens = " ".join(p[0] for rows in (indexed.meta_only, indexed.tagged) for p in rows)
        tags = json.dumps(indexed.machine_tags, ensure_ascii=False)
        self.docs.append((rowid, asset.model_dump_json(), tokens, tags))
        self.meta_only.extend(indexed.meta_only)
        self.tagged.extend(indexed.tagged)
        self.texts.append(indexed.text)

    def flush(self, conn: sqlite3.Connection) -> None:
        _drop_postings(conn, [u[-1] for u in self.updates])
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
        conn.executemany(
            "INSERT OR REPLACE INTO docs (rowid, doc, tokens, tags) VALUES (?, ?, ?, ?)", self.docs
        )
        # in index order, a batch's rows for one token land on the same few pages
        conn.executemany(_INSERT_META_ONLY, sorted(self.meta_only, key=itemgetter(0, 1)))
        conn.executemany(_INSERT_TAGGED, sorted(self.tagged, key=itemgetter(0, 1)))
        conn.executemany(
            "INSERT INTO asset_text (rowid, title, keywords, file_name, description) "
            "VALUES (?, ?, ?, ?, ?)",
            self.texts,
        )


class SqliteStore:
    name = "sqlite"
    dialect = "sql"

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
        try:
            self.backup_written = migrate(self._conn(), self.path)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(_damaged(self.path, exc)) from None

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
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # writes
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._stage(conn, batch).flush(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(batch)

    def _stage(self, conn: sqlite3.Connection, batch: list[Asset]) -> _PendingWrites:
        """The batch's rows; flushes early when an id comes twice (the second sees the first)."""
        known = self._known(conn, [a.id for a in batch])
        next_rowid = conn.execute("SELECT COALESCE(MAX(rowid), 0) + 1 FROM assets").fetchone()[0]
        pending = _PendingWrites()
        for asset in batch:
            if asset.id in pending.ids:
                pending.flush(conn)
                pending = _PendingWrites()
            found = known.get(asset.id)
            asset = self._keep_times(asset, found[1] if found else None)
            if found:
                rowid = found[0]
            else:
                rowid, next_rowid = next_rowid, next_rowid + 1
                known[asset.id] = (rowid, _iso(asset.created_at))
            pending.add(asset, rowid, found is not None, self._index(asset, rowid))
        return pending

    def _known(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[int, str]]:
        """rowid and created_at of the ids already stored."""
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            f"SELECT id, rowid, created_at FROM assets WHERE id IN ({marks})", ids
        ).fetchall()
        return {i: (rowid, created) for i, rowid, created in rows}

    def _keep_times(self, asset: Asset, created_at: str | None) -> Asset:
        """An upsert without explicit times keeps the creation time and stamps the update."""
        update: dict = {}
        if created_at and "created_at" not in asset.model_fields_set:
            update["created_at"] = datetime.fromisoformat(created_at)
        if "updated_at" not in asset.model_fields_set:
            update["updated_at"] = utc_now()
        return asset.model_copy(update=update) if update else asset

    def _index(self, asset: Asset, rowid: int) -> _Indexed:
        meta: dict[str, int] = {}
        weights = self.settings.field_weights
        fields = meta_tokens(asset)
        text = (rowid, *(" ".join(fields[f]) for f in FTS_COLUMNS))
        for field, tokens in fields.items():
            for token in tokens:
                meta[token] = max(meta.get(token, 0), weights[field])
        tags: dict[str, list] = {}
        machine_tags = []
        for tag in indexed_tags(asset, self.settings.weight_quantum):
            if tag.source is TagSource.machine:
                machine_tags.append(tag.tag)
            at = _KIND_SLOT[tag.kind]
            for token in tag.tokens:
                slot = tags.get(token) or tags.setdefault(token, _empty_slot())
                if tag.source is not TagSource.machine:
                    slot[0] |= curated_bit(tag.source.value, tag.kind)
                elif slot[at] is None or tag.confidence > slot[at]:
                    slot[at], slot[at + 1] = tag.confidence, tag.weight
        return _Indexed(
            [(t, rowid, w) for t, w in meta.items() if t not in tags],
            [(t, rowid, meta.get(t, 0), *slot) for t, slot in tags.items()],
            machine_tags,
            text,
        )

    def delete(self, asset_id: str) -> bool:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT rowid FROM assets WHERE id = ?", (asset_id,)).fetchone()
            if row:
                _drop_postings(conn, [row[0]])
                conn.execute("DELETE FROM docs WHERE rowid = ?", (row[0],))
                conn.execute("DELETE FROM assets WHERE rowid = ?", (row[0],))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
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

    def replace(self, asset: Asset, expected: str | None) -> bool:
        conn = self._conn()
        with _immediate(conn):
            row = conn.execute("SELECT version FROM assets WHERE id = ?", (asset.id,)).fetchone()
            current = str(row[0]) if row else None
            if current != expected:
                return False
            self._stage(conn, [asset]).flush(conn)
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

    def replace_many(self, writes: list[tuple[Asset, str | None]]) -> list[bool]:
        """`replace` for many assets in one transaction: each is written if its stored
        version is still the expected one; the result says which were."""
        conn = self._conn()
        done: list[bool] = []
        with _immediate(conn):
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
                self._stage(conn, list(accepted.values())).flush(conn)
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

    def audit_log(self, asset_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        where, params = ("WHERE asset_id = ?", [asset_id]) if asset_id is not None else ("", [])
        rows = self._conn().execute(
            f"SELECT doc FROM audit {where} ORDER BY at DESC, seq DESC LIMIT ?", [*params, limit]
        )
        return [AuditEntry.model_validate_json(doc) for (doc,) in rows]

    # index rebuild: postings and text re-derived from the stored documents
    def rebuild_index(self, progress: RebuildProgress | None = None) -> RebuildReport:
        """One transaction: readers (WAL) answer from their snapshot until it commits, and
        writers wait for it (up to the busy timeout)."""
        conn = self._conn()
        saved = backup(conn, self.path, current_version(conn))
        done = 0
        with _immediate(conn):
            total = conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
            conn.execute("DELETE FROM postings")
            conn.execute("DELETE FROM asset_text")
            for batch in self._doc_batches(conn):
                pending = _PendingWrites()
                for rowid, doc in batch:
                    asset = Asset.model_validate_json(doc)
                    pending.add_derived(asset, rowid, self._index(asset, rowid))
                pending.flush(conn)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
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
        marks = ",".join("?" * len(rowids))
        rows = conn.execute(f"SELECT rowid, doc FROM docs WHERE rowid IN ({marks})", rowids)
        return {r: Asset.model_validate_json(doc) for r, doc in rows}

    def execute_search(self, compiled: SqlSearch) -> RankedPage:  # type: ignore[override]
        conn = self._conn()
        # one read transaction: the page, its total and its documents come from one snapshot
        conn.execute("BEGIN")
        try:
            return self._search(conn, compiled)
        finally:
            conn.execute("COMMIT")

    def _search(self, conn: sqlite3.Connection, query: SqlSearch) -> RankedPage:
        rows = conn.execute(query.sql, query.params).fetchall()
        if rows and query.total_in_rows:
            total = rows[0][2]
        else:
            total = conn.execute(query.count_sql, query.params).fetchone()[0]
        docs = self._docs(conn, [r[0] for r in rows])
        return RankedPage(total, [RankedHit(docs[r[0]], r[1]) for r in rows])

    def iter_assets(self, folder: str = "") -> Iterator[Asset]:
        where, params = "1", {}
        if folder:
            where = "(a.folder = :f OR (a.folder >= :lo AND a.folder < :hi))"
            params = {"f": folder, "lo": folder + "/", "hi": folder + "0"}
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
