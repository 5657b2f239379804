"""The embedded store's schema and its migrations.

A migration runs only after a backup copy of the database file is written, inside one
transaction: it applies completely or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from catalog.asset import TagKind
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

# One `postings` row per (token, asset) holds everything search needs to score that pair, so a
# one-term search reads one index range and never groups: `meta` is the best field weight of the
# token in the metadata (0: in tags only); per tag kind, `<kind>_conf` / `<kind>_weight` are the
# confidence and quantised weight of the best machine tag holding the token (thresholds and kind
# filters apply at query time); `curated` has a bit per (source, kind) of manual/promoted tags.
# `asset_text` (FTS5, rowid = asset) holds the analyzed metadata fields (Porter-stemmed by
# catalog/analysis.py, so FTS5 only splits on spaces): its AND query finds tier 1.
# `docs.tokens` lists the tokens of an asset's postings, to delete them by primary key;
# `docs.tags` is a JSON array of the names of its indexed machine tags, for stats.
CURATED_SOURCES = ("manual", "promoted")


def curated_bit(source: str, kind: str) -> int:
    """The bit of `postings.curated` that says a `source` tag of `kind` holds the token."""
    kinds = [k.value for k in TagKind]
    return 1 << (CURATED_SOURCES.index(source) * len(kinds) + kinds.index(kind))


def kind_columns(kind: str) -> tuple[str, str]:
    """The confidence and weight columns of the best machine tag of `kind`."""
    return f"{kind}_conf", f"{kind}_weight"


POSTING_COLUMNS = (
    "token",
    "asset",
    "meta",
    "curated",
    *(column for kind in TagKind for column in kind_columns(kind.value)),
)


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


MIGRATIONS: list[Migration] = [_v1, _v2]
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


def migrate(conn: sqlite3.Connection, db_path: Path) -> Path | None:
    """Bring the schema to SCHEMA_VERSION; returns the backup written, if any."""
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
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return saved
