"""Schema migrations of the embedded store: a backup first, then all or nothing."""

from __future__ import annotations

import sqlite3

import pytest

from catalog import sqlite_schema
from catalog.audit import AuditEntry
from catalog.sqlite_store import SqliteStore
from catalog.store import StoreError
from query.plan import SearchRequest
from query.service import search
from tests.backends import make_settings
from tests.fixtures import asset, tag

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


def write_old_database(path, version: int, assets) -> None:
    """A database as smarttags of schema `version` (1 or 2) left it: its tables, and the
    asset and document rows those versions wrote (their search tables are dropped by v3)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for step in sqlite_schema.MIGRATIONS[:version]:
        step(conn)
    for rowid, item in enumerate(assets, start=1):
        conn.execute(
            "INSERT INTO assets (rowid, id, folder, media_type, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rowid, item.id, item.folder, item.media_type.value, item.status.value,
             item.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
             item.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO docs (rowid, doc, tokens, tags) VALUES (?, ?, ?, ?)",
            (rowid, item.model_dump_json(), "", "[]"),
        )
        conn.execute(
            "INSERT INTO postings (token, asset, meta, curated) VALUES (?, ?, 4, 0)",
            (item.title.lower(), rowid),
        )
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_migrates_with_a_backup_and_stays_searchable(tmp_path, version):
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    old = [
        asset("a", title="dog", smart_tags=[tag("beach", 0.9)]),
        asset("b", title="cat", manual_tags=["beach"]),
    ]
    write_old_database(settings.sqlite_path, version, old)
    store = SqliteStore(settings)
    assert store.backup_written is not None and f".v{version}." in store.backup_written.name
    assert sqlite_schema.current_version(store._conn()) == CURRENT
    assert store.read("a") is not None
    found = search(store, SearchRequest("beach"), settings)
    assert [(h["id"], h["tier"]) for h in found["hits"]] == [("b", 2), ("a", 2)]
    assert [h["id"] for h in search(store, SearchRequest("dog"), settings)["hits"]] == ["a"]
    store.add_audit(
        AuditEntry(asset_id="a", action="add", tag="x", before="none", after="manual", actor="t")
    )
    assert [e.tag for e in store.audit_log("a")] == ["x"]
    store.close()
    with sqlite3.connect(store.backup_written) as backup:
        assert backup.execute("PRAGMA user_version").fetchone()[0] == version
        assert backup.execute("SELECT COUNT(*) FROM postings").fetchone()[0] == 2


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
