"""Bulk import: lines validated in worker processes, written in order, in large batches."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from catalog.jsonl import export_lines, import_jsonl
from catalog.sqlite_store import SqliteStore
from query.plan import SearchRequest
from query.service import search
from smarttags.cli import cli
from tests.backends import make_settings


def line(i: int, **fields) -> str:
    doc = {
        "id": f"a{i:03d}",
        "path": f"lib/{i % 3}/a{i:03d}.jpg",
        "media_type": "image",
        "title": f"photo {i}",
        "smart_tags": [{"tag": "dog", "kind": "object", "confidence": 0.5 + (i % 50) / 100}],
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-02T00:00:00Z",
        **fields,
    }
    return json.dumps(doc)


def library_lines() -> list[str]:
    lines = [line(i) for i in range(40)]
    lines[4] = "not json"
    lines[17] = '{"id": "x", "path": "a.jpg"}'  # no media type
    lines[25] = ""  # blank lines are skipped silently, but counted
    lines[31] = line(2, title="photo two again")  # a later line for the same id wins
    return lines


def exported(store: SqliteStore) -> str:
    return "".join(export_lines(store.iter_assets()))


@pytest.mark.parametrize("workers", [0, 2])
def test_import_reports_bad_lines_by_number_and_writes_the_rest_in_order(tmp_path, workers):
    store = SqliteStore(make_settings(tmp_path))
    stream = io.StringIO("\n".join(library_lines()) + "\n")
    report = import_jsonl(store, stream, workers=workers, chunk_lines=6)
    assert [(e.line, e.reason.split(":")[0]) for e in report.skipped] == [
        (5, "not valid JSON (Expecting value at column 1)"),
        (18, "media_type"),
    ]
    assert report.imported == 37
    assert store.count() == 36
    assert store.get("a002").title == "photo two again"
    found = search(store, SearchRequest("photo", limit=5), store.settings)
    assert found["total"] == {"value": 36, "relation": "eq"}
    store.close()


def test_parallel_and_in_process_imports_store_the_same(tmp_path):
    text = "\n".join(library_lines()) + "\n"
    first = SqliteStore(make_settings(tmp_path / "one"))
    import_jsonl(first, io.StringIO(text), workers=0)
    second = SqliteStore(make_settings(tmp_path / "two"))
    import_jsonl(second, io.StringIO(text), workers=2, chunk_lines=4)
    assert exported(first) == exported(second)
    first.close()
    second.close()


def test_an_import_without_creation_times_keeps_the_stored_ones(tmp_path):
    store = SqliteStore(make_settings(tmp_path))
    import_jsonl(store, io.StringIO(line(1) + "\n"), workers=0)
    again = json.loads(line(1, title="renamed"))
    del again["created_at"]
    lines = [json.dumps(again)] + [line(i) for i in range(2, 12)]
    import_jsonl(store, io.StringIO("\n".join(lines)), workers=2, chunk_lines=3)
    kept = store.get("a001")
    assert kept.title == "renamed"
    assert kept.created_at.isoformat() == "2025-01-01T00:00:00+00:00"
    store.close()


def test_cli_import_in_worker_processes_round_trips_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTTAGS_IMPORT_CHUNK_LINES", "5")
    monkeypatch.setenv("SMARTTAGS_IMPORT_WORKERS", "2")
    monkeypatch.delenv("SMARTTAGS_OPENSEARCH_URL", raising=False)
    runner = CliRunner()
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(library_lines()) + "\n")
    one, two = ["--data-dir", str(tmp_path / "one")], ["--data-dir", str(tmp_path / "two")]
    result = runner.invoke(cli, [*one, "import", str(source)])
    assert result.exit_code == 1  # two lines were skipped
    assert "line 5: skipped: not valid JSON" in result.output
    assert "importing" in result.output  # the progress bar
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert runner.invoke(cli, [*one, "export", "-o", str(first)]).exit_code == 0
    assert runner.invoke(cli, [*two, "import", str(first)]).exit_code == 0
    assert runner.invoke(cli, [*two, "export", "-o", str(second)]).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_text().splitlines()) == 36
