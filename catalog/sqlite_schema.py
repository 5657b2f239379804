"""The embedded store's schema and its migrations.

A migration runs only after a backup copy of the database file is written, inside one
transaction: it applies completely or not at all.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from catalog.store import StoreError

SCHEMA_V1 = """
CREATE TABLE assets (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  folder TEXT NOT NULL,
  media_type TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX assets_browse ON assets (created_at DESC, id);
CREATE INDEX assets_folder ON assets (folder);
CREATE INDEX assets_media_type ON assets (media_type);
CREATE TABLE docs (
  rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL, tokens TEXT NOT NULL, tags TEXT NOT NULL
);
CREATE TABLE postings (
  token TEXT NOT NULL,
  asset INTEGER NOT NULL,
  meta INTEGER NOT NULL,
  curated INTEGER NOT NULL,
  object_conf REAL, object_weight REAL,
  action_conf REAL, action_weight REAL,
  custom_conf REAL, custom_weight REAL,
  PRIMARY KEY (token, asset)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE asset_text USING fts5 (
  title, keywords, file_name, description,
  tokenize = 'unicode61 remove_diacritics 0', detail = none
);
"""

# v2: per-folder smart-tag settings (a FolderSetting as JSON, catalog/folders.py) and the
# moderation audit log (an AuditEntry as JSON). `audit.seq` orders entries written in the same
# second (`at` has second precision): newest first is `at DESC, seq DESC`.
SCHEMA_V2 = """
CREATE TABLE folder_settings (folder TEXT PRIMARY KEY, setting TEXT NOT NULL);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  at TEXT NOT NULL,
  asset_id TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX audit_asset ON audit (asset_id, at);
CREATE INDEX audit_at ON audit (at)
"""

# v3: search runs on an in-memory term index (catalog/term_index.py) derived from one row per
# asset, so a write is a handful of rows instead of one per (token, asset):
# - `doc_terms` (rowid = asset): the asset's metadata terms and tag postings as packed records
#   (term id, field mask) and (term id, channel, confidence), see catalog/term_rows.py;
# - `terms`: the term dictionary (ids are never reused);
# - `changes`: the change log; every write of an asset appends its rowid, and a process's index
#   catches up by reading the rows changed since the position it reflects (old entries are
#   pruned; a reader left behind the pruned part rebuilds);
# - `index_meta`: `generation`, a token that changes when the derived rows are rewritten
#   (migration, index rebuild), so every process rebuilds its index from scratch.
# `docs.tags` stays: a JSON array of the names of an asset's indexed machine tags, for stats.
# The v2 `postings` table, the FTS5 `asset_text` table and `docs.tokens` are dropped.
SCHEMA_V3 = """
DROP TABLE postings;
DROP TABLE asset_text;
ALTER TABLE docs DROP COLUMN tokens;
CREATE TABLE terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE doc_terms (rowid INTEGER PRIMARY KEY, meta BLOB NOT NULL, tags BLOB NOT NULL);
CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, asset INTEGER NOT NULL);
CREATE TABLE index_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
"""
# v4: stored candidates and learned thresholds (catalog/tag_thresholds.py):
# - `doc_terms` tag records gain the term id of the tag's name and shadow channels
#   (catalog/term_rows.py): every row is derived again, in the migration's transaction;
# - `tag_thresholds`: one TagThreshold (as JSON) per tag name with curation feedback;
# - indexes for a tag's audit entries and for the assets tagged last (the review queue).
SCHEMA_V4 = """
CREATE TABLE tag_thresholds (tag TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE INDEX audit_tag ON audit (json_extract(doc, '$.tag'), at);
CREATE INDEX docs_tagged_at ON docs (json_extract(doc, '$.tagged_at'));
DELETE FROM doc_terms
"""
GENERATION_KEY = "generation"
INDEX_CACHE_KEY = "index_cache"  # the saved term-index snapshot valid for this database

# v5: embeddings for semantic search, beside the documents (catalog/vectors.py): the table
# `asset_vectors` (rowid = asset) holds the model, the asset vector (float32) and its
# vocabulary median and spread, written in the transaction of the asset's document and
# logged in `changes` like it; each process reads it whole into its vector index
# (catalog/vector_index.py). The frame vectors live in a file of their own (FRAMES_SCHEMA).
SCHEMA_V5 = """
CREATE TABLE asset_vectors (
  rowid INTEGER PRIMARY KEY,
  model TEXT NOT NULL,
  vector BLOB NOT NULL,
  median REAL NOT NULL,
  spread REAL NOT NULL
)
"""
# The frame vectors, per asset (rowid): each frame's time range (float32 starts, ends),
# vector (float16, T x D) and vocabulary median and spread (float32); read only for the hits
# whose moments a search shows. They are most of the bytes (3 GB at 100,000 assets against a
# few hundred MB for the rest), and derived: `reindex` (re-tag) writes them again from the
# embedding cache. So they live in `<database>.frames`, attached to every connection as
# `frames`, out of the catalog's backups and integrity checks. A write commits both files in
# one transaction (atomic per file in WAL mode: after a crash between the two, an asset's
# frames may be a write behind, until its next write).
FRAMES_DB = "frames"
FRAMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS frames.frame_vectors (
  rowid INTEGER PRIMARY KEY,
  starts BLOB NOT NULL,
  ends BLOB NOT NULL,
  vectors BLOB NOT NULL,
  medians BLOB NOT NULL,
  spreads BLOB NOT NULL
)
"""


def new_generation(conn: sqlite3.Connection) -> str:
    """Mark every process's term index out of date (their next search rebuilds it)."""
    token = secrets.token_hex(8)
    conn.execute(
        "INSERT OR REPLACE INTO index_meta (key, value) VALUES (?, ?)", (GENERATION_KEY, token)
    )
    return token


Migration = Callable[[sqlite3.Connection], None]


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction half-way: run statements singly.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _run_script(conn, SCHEMA_V1)


def _v2(conn: sqlite3.Connection) -> None:
    _run_script(conn, SCHEMA_V2)


def _v3(conn: sqlite3.Connection) -> None:
    # the rows of `doc_terms` are derived by the store's `finish` step, in this transaction
    _run_script(conn, SCHEMA_V3)
    new_generation(conn)


def _v4(conn: sqlite3.Connection) -> None:
    # the store's `finish` step derives every `doc_terms` row again, in this transaction
    _run_script(conn, SCHEMA_V4)
    new_generation(conn)


def _v5(conn: sqlite3.Connection) -> None:
    _run_script(conn, SCHEMA_V5)


MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def backup(conn: sqlite3.Connection, db_path: Path, version: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = db_path.with_name(f"{db_path.name}.v{version}.{stamp}.bak")
    with sqlite3.connect(target) as copy:
        conn.backup(copy)
    copy.close()
    return target


def _checked_version(conn: sqlite3.Connection, db_path: Path) -> int:
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{db_path} has schema version {version}, newer than this smarttags "
            f"({SCHEMA_VERSION}); upgrade smarttags"
        )
    return version


def migrate(
    conn: sqlite3.Connection, db_path: Path, finish: Migration | None = None
) -> Path | None:
    """Bring the schema to SCHEMA_VERSION; returns the backup written, if any. `finish` runs
    after the steps, in their transaction (the store derives its index rows there)."""
    version = _checked_version(conn, db_path)
    if version == SCHEMA_VERSION:
        return None
    saved = backup(conn, db_path, version) if version > 0 else None
    conn.execute("BEGIN IMMEDIATE")
    try:
        # another process (the API, a second CLI) may have migrated while we waited for the lock
        version = _checked_version(conn, db_path)
        for step in MIGRATIONS[version:]:
            step(conn)
        if finish is not None:
            finish(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return saved
