"""A small SQLite file of its own under the data dir (job records, API keys): WAL mode, one
connection per thread, its schema created on open."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from catalog.store import StoreError


class SideDatabase:
    def __init__(
        self, path: Path, timeout_s: float, schema: str, what: str, mode: int | None = None
    ) -> None:
        """`what` names the contents in errors ("the job records"); `mode`: file permissions."""
        self.path = path
        self._timeout = timeout_s
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().executescript(schema)
            if mode is not None:
                self.path.chmod(mode)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {what} at {self.path}: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
