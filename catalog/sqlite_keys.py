"""API keys (digests only) in their own SQLite file under the data dir.

Apart from the catalog's file, like the job records: the catalog's schema and its migrations
stay the documents' own, and a catalog backup or rebuild never touches the keys.
"""

from __future__ import annotations

import sqlite3

from catalog.keys import ApiKey
from catalog.settings import Settings
from catalog.sqlite_side import SideDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
  name TEXT PRIMARY KEY,
  digest TEXT NOT NULL UNIQUE,
  doc TEXT NOT NULL
);
"""
_PRIVATE = 0o600  # digests are not keys, but nobody else needs to read them


class SqliteKeyStore(SideDatabase):
    def __init__(self, settings: Settings) -> None:
        path = settings.data_dir / settings.keys_file
        timeout = settings.sqlite_busy_timeout_s
        super().__init__(path, timeout, _SCHEMA, "the API keys", mode=_PRIVATE)

    def check(self) -> str:
        self._conn().execute("SELECT COUNT(*) FROM api_keys").fetchone()
        return f"API keys in {self.path}"

    def add(self, key: ApiKey) -> bool:
        try:
            self._conn().execute(
                "INSERT INTO api_keys (name, digest, doc) VALUES (?, ?, ?)",
                (key.name, key.digest, key.model_dump_json()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def list(self) -> list[ApiKey]:
        rows = self._conn().execute("SELECT doc FROM api_keys ORDER BY name")
        return [ApiKey.model_validate_json(doc) for (doc,) in rows]

    def revoke(self, name: str) -> bool:
        cursor = self._conn().execute("DELETE FROM api_keys WHERE name = ?", (name,))
        return cursor.rowcount == 1
