"""The embedded default store: one SQLite file (WAL) under the data directory."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from catalog.asset import Asset, utc_now
from catalog.effective import indexed_tags, meta_tokens
from catalog.settings import Settings
from catalog.sqlite_schema import migrate
from catalog.store import RankedHit, RankedPage, StoreError, StoreStats
from query.plan import QueryPlan
from query.sql import compile_plan

WRITE_BATCH = 500


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class SqliteStore:
    name = "sqlite"

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
        self.backup_written = migrate(self._conn(), self.path)

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
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None
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
            for asset in batch:
                self._write_one(conn, asset)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(batch)

    def _write_one(self, conn: sqlite3.Connection, asset: Asset) -> None:
        row = conn.execute(
            "SELECT rowid, created_at FROM assets WHERE id = ?", (asset.id,)
        ).fetchone()
        asset = self._keep_times(asset, row[1] if row else None)
        values = (
            asset.id,
            asset.folder,
            asset.media_type.value,
            asset.status.value,
            _iso(asset.created_at),
            _iso(asset.updated_at),
        )
        if row:
            rowid = row[0]
            self._drop_postings(conn, rowid)
            conn.execute(
                "UPDATE assets SET id=?, folder=?, media_type=?, status=?, created_at=?, "
                "updated_at=?, version = version + 1 WHERE rowid = ?",
                (*values, rowid),
            )
        else:
            rowid = conn.execute(
                "INSERT INTO assets (id, folder, media_type, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                values,
            ).lastrowid
        conn.execute(
            "INSERT OR REPLACE INTO docs (rowid, doc) VALUES (?, ?)",
            (rowid, json.dumps(asset.to_json_dict(), ensure_ascii=False)),
        )
        self._add_postings(conn, rowid, asset)

    def _keep_times(self, asset: Asset, created_at: str | None) -> Asset:
        """An upsert without explicit times keeps the creation time and stamps the update."""
        update: dict = {}
        if created_at and "created_at" not in asset.model_fields_set:
            update["created_at"] = datetime.fromisoformat(created_at)
        if "updated_at" not in asset.model_fields_set:
            update["updated_at"] = utc_now()
        return asset.model_copy(update=update) if update else asset

    def _drop_postings(self, conn: sqlite3.Connection, rowid: int) -> None:
        conn.execute("DELETE FROM asset_text WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM meta_terms WHERE asset = ?", (rowid,))
        conn.execute("DELETE FROM tag_terms WHERE asset = ?", (rowid,))

    def _add_postings(self, conn: sqlite3.Connection, rowid: int, asset: Asset) -> None:
        fields = meta_tokens(asset)
        conn.execute(
            "INSERT INTO asset_text (rowid, title, keywords, file_name, description) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                rowid,
                *(" ".join(fields[f]) for f in ("title", "keywords", "file_name", "description")),
            ),
        )
        weights = self._field_weights()
        best: dict[str, int] = {}
        for field, tokens in fields.items():
            for token in tokens:
                best[token] = max(best.get(token, 0), weights[field])
        conn.executemany(
            "INSERT INTO meta_terms (token, asset, weight) VALUES (?, ?, ?)",
            [(t, rowid, w) for t, w in best.items()],
        )
        rows = {}
        for tag in indexed_tags(asset, self.settings.weight_quantum):
            for token in tag.tokens:
                rows[(token, tag.tag, tag.source.value)] = (
                    token,
                    rowid,
                    tag.tag,
                    tag.source.value,
                    tag.kind,
                    tag.confidence,
                    tag.weight,
                )
        conn.executemany("INSERT INTO tag_terms VALUES (?, ?, ?, ?, ?, ?, ?)", rows.values())

    def _field_weights(self) -> dict[str, int]:
        s = self.settings
        return {
            "title": s.title_weight,
            "keywords": s.keywords_weight,
            "file_name": s.file_name_weight,
            "description": s.description_weight,
        }

    def delete(self, asset_id: str) -> bool:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT rowid FROM assets WHERE id = ?", (asset_id,)).fetchone()
            if row:
                self._drop_postings(conn, row[0])
                conn.execute("DELETE FROM docs WHERE rowid = ?", (row[0],))
                conn.execute("DELETE FROM assets WHERE rowid = ?", (row[0],))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return row is not None

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

    def _docs(self, rowids: list[int]) -> dict[int, Asset]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = (
            self._conn()
            .execute(f"SELECT rowid, doc FROM docs WHERE rowid IN ({marks})", rowids)
            .fetchall()
        )
        return {r: Asset.model_validate_json(doc) for r, doc in rows}

    def search(self, plan: QueryPlan) -> RankedPage:
        query = compile_plan(plan)
        if query is None:
            return RankedPage(total=0)
        rows = self._conn().execute(query.sql, query.params).fetchall()
        total = rows[0][2] if rows else self._count_only(query.sql, query.params)
        docs = self._docs([r[0] for r in rows])
        return RankedPage(total, [RankedHit(docs[r[0]], r[1]) for r in rows])

    def _count_only(self, sql: str, params: dict) -> int:
        head, _, _ = sql.rpartition("LIMIT")
        return self._conn().execute(f"SELECT COUNT(*) FROM ({head})", params).fetchone()[0]

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
            "SELECT COUNT(*) FROM (SELECT DISTINCT tag FROM tag_terms WHERE source='machine')"
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
