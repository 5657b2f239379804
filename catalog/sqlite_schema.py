"""The embedded store's schema and its migrations.

A migration runs only after a backup copy of the database file is written, inside one
transaction: it applies completely or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

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
CREATE TABLE docs (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE VIRTUAL TABLE asset_text USING fts5 (
  title, keywords, file_name, description,
  tokenize = 'unicode61 remove_diacritics 0', detail = none
);
CREATE TABLE meta_terms (
  token TEXT NOT NULL, asset INTEGER NOT NULL, weight INTEGER NOT NULL,
  PRIMARY KEY (token, asset)
) WITHOUT ROWID;
CREATE INDEX meta_terms_asset ON meta_terms (asset);
CREATE TABLE tag_terms (
  token TEXT NOT NULL, asset INTEGER NOT NULL, tag TEXT NOT NULL, source TEXT NOT NULL,
  kind TEXT NOT NULL, confidence REAL NOT NULL, weight REAL NOT NULL,
  PRIMARY KEY (token, asset, tag, source)
) WITHOUT ROWID;
CREATE INDEX tag_terms_asset ON tag_terms (asset);
"""

Migration = Callable[[sqlite3.Connection], None]


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction half-way: run statements singly.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _run_script(conn, SCHEMA_V1)


MIGRATIONS: list[Migration] = [_v1]
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


def migrate(conn: sqlite3.Connection, db_path: Path) -> Path | None:
    """Bring the schema to SCHEMA_VERSION; returns the backup written, if any."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"{db_path} has schema version {version}, newer than this smarttags "
            f"({SCHEMA_VERSION}); upgrade smarttags"
        )
    if version == SCHEMA_VERSION:
        return None
    saved = backup(conn, db_path, version) if version > 0 else None
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return saved
