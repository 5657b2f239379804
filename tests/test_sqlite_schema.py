"""Schema migrations of the embedded store: a backup first, then all or nothing."""

from __future__ import annotations

import sqlite3

import pytest

from catalog import sqlite_schema
from catalog.audit import AuditEntry
from catalog.sqlite_store import SqliteStore
from catalog.store import StoreError
from tests.backends import make_settings
from tests.fixtures import asset

CURRENT = sqlite_schema.SCHEMA_VERSION
NEXT = CURRENT + 1


def _next_adds_a_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE assets ADD COLUMN rating INTEGER")


def _next_fails_half_way(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE assets ADD COLUMN rating INTEGER")
    raise RuntimeError("disk on fire")


@pytest.fixture
def v1_store(tmp_path):
    settings = make_settings(tmp_path)
    store = SqliteStore(settings)
    store.upsert_many([asset("a", title="dog")])
    store.close()
    return settings


def test_a_new_database_gets_the_current_schema_without_backup(tmp_path):
    store = SqliteStore(make_settings(tmp_path))
    assert store.backup_written is None
    assert sqlite_schema.current_version(store._conn()) == sqlite_schema.SCHEMA_VERSION
    store.close()


def test_a_migration_writes_a_backup_then_applies(v1_store, monkeypatch):
    monkeypatch.setattr(
        sqlite_schema, "MIGRATIONS", [*sqlite_schema.MIGRATIONS, _next_adds_a_column]
    )
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", NEXT)
    store = SqliteStore(v1_store)
    assert store.backup_written is not None and store.backup_written.exists()
    with sqlite3.connect(store.backup_written) as backup:
        assert backup.execute("PRAGMA user_version").fetchone()[0] == CURRENT
        assert backup.execute("SELECT COUNT(*) FROM assets").fetchone()[0] == 1
    assert store.get("a") is not None
    store.close()


def test_a_failed_migration_changes_nothing(v1_store, monkeypatch):
    monkeypatch.setattr(
        sqlite_schema, "MIGRATIONS", [*sqlite_schema.MIGRATIONS, _next_fails_half_way]
    )
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", NEXT)
    with pytest.raises(RuntimeError, match="disk on fire"):
        SqliteStore(v1_store)
    with sqlite3.connect(v1_store.sqlite_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT
        columns = [r[1] for r in conn.execute("PRAGMA table_info(assets)")]
        assert "rating" not in columns


def test_a_v1_database_migrates_to_v2_with_a_backup(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    with monkeypatch.context() as v1_only:
        v1_only.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:1])
        v1_only.setattr(sqlite_schema, "SCHEMA_VERSION", 1)
        old = SqliteStore(settings)
        old.upsert_many([asset("a", title="dog")])
        old.close()
    store = SqliteStore(settings)
    assert store.backup_written is not None and ".v1." in store.backup_written.name
    assert sqlite_schema.current_version(store._conn()) == 2
    assert store.read("a") is not None
    store.add_audit(
        AuditEntry(asset_id="a", action="add", tag="x", before="none", after="manual", actor="t")
    )
    assert [e.tag for e in store.audit_log("a")] == ["x"]
    store.close()


def test_a_newer_database_is_refused_clearly(v1_store):
    with sqlite3.connect(v1_store.sqlite_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer than this smarttags"):
        SqliteStore(v1_store)


def test_a_damaged_database_file_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.sqlite_path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a smarttags database or is damaged"):
        SqliteStore(settings)


def test_an_opener_waiting_on_another_ones_migration_does_not_repeat_it(tmp_path):
    """A second process (the API, another CLI) that found version 0 before the first one
    committed its migration must not run it again once it gets the lock."""
    import sqlite3
    import threading
    import time

    from catalog.settings import Settings
    from catalog.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
    from catalog.sqlite_store import SqliteStore

    settings = Settings(data_dir=tmp_path)
    tmp_path.mkdir(exist_ok=True)
    first = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    first.execute("PRAGMA journal_mode = WAL")
    first.execute("BEGIN IMMEDIATE")
    for step in MIGRATIONS:
        step(first)
    outcome: dict = {}

    def second_opener() -> None:
        try:
            SqliteStore(settings).close()
            outcome["ok"] = True
        except Exception as exc:
            outcome["error"] = exc

    opener = threading.Thread(target=second_opener)
    opener.start()
    time.sleep(0.5)  # it has read version 0 and now waits for the write lock
    first.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    first.execute("COMMIT")
    opener.join(30)
    first.close()
    assert outcome == {"ok": True}
