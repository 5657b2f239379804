from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from smarttags.cli import cli
from tests.tiny_model import write_tiny_model


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTTAGS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SMARTTAGS_OPENSEARCH_URL", raising=False)
    return CliRunner()


LINES = [
    {
        "id": "a1",
        "path": "campaigns/summer/beach.mp4",
        "media_type": "video",
        "title": "Woman running",
        "description": "",
        "keywords": ["summer"],
        "smart_tags": [
            {"tag": "running", "kind": "action", "confidence": 0.88, "segments": [[0.0, 4.5]]}
        ],
        "manual_tags": ["beach"],
        "promoted_tags": [],
        "removed_tags": [],
    },
    {
        "id": "a2",
        "path": "campaigns/winter/snow.jpg",
        "media_type": "image",
        "title": "Snow",
        "smart_tags": [{"tag": "woman", "kind": "object", "confidence": 0.9}],
    },
]


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "in.jsonl"
    bad = [
        '{"id": "x", "path": "a.jpg"}',
        "not json",
        '{"id": "y", "path": "/abs.jpg", "media_type": "image"}',
        '{"id": "z", "path": "z.jpg", "media_type": "image", '
        '"smart_tags": [{"tag": "t", "kind": "object", "confidence": 1.5}]}',
    ]
    path.write_text("\n".join([json.dumps(LINES[0]), *bad, json.dumps(LINES[1])]) + "\n")
    return path


def test_import_reports_bad_lines_and_imports_the_rest(runner, catalog_file):
    result = runner.invoke(cli, ["import", str(catalog_file)])
    assert result.exit_code == 1
    assert "imported 2 assets, skipped 4 lines" in result.output
    assert "line 2: skipped: media_type: Field required" in result.output
    assert "line 3: skipped: not valid JSON" in result.output
    assert "line 4: skipped:" in result.output and "relative" in result.output
    assert "line 5: skipped: smart_tags.0.confidence" in result.output


def test_import_of_a_clean_file_exits_zero(runner, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 0, result.output


def test_export_imports_back_identically(runner, catalog_file, tmp_path):
    runner.invoke(cli, ["import", str(catalog_file)])
    first = tmp_path / "first.jsonl"
    assert runner.invoke(cli, ["export", "-o", str(first)]).exit_code == 0
    other = ["--data-dir", str(tmp_path / "other")]
    assert runner.invoke(cli, [*other, "import", str(first)]).exit_code == 0
    second = tmp_path / "second.jsonl"
    runner.invoke(cli, [*other, "export", "-o", str(second)])
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_text().splitlines()) == 2


def test_export_folder(runner, catalog_file):
    runner.invoke(cli, ["import", str(catalog_file)])
    result = runner.invoke(cli, ["export", "--folder", "campaigns/winter"])
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in rows] == ["a2"]


def test_search_json_shape(runner, catalog_file):
    runner.invoke(cli, ["import", str(catalog_file)])
    result = runner.invoke(cli, ["search", "woman running", "--json"])
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body["total"] == 2
    assert [(h["id"], h["tier"]) for h in body["hits"]] == [("a1", 1), ("a2", 3)]
    assert body["hits"][0]["matched"] == {
        "metadata": ["title"],
        "tags": [
            {
                "tag": "running",
                "kind": "action",
                "source": "machine",
                "weight": round(0.88 * 256) / 256,
            }
        ],
    }


def test_search_human_output_and_filters(runner, catalog_file):
    runner.invoke(cli, ["import", str(catalog_file)])
    result = runner.invoke(cli, ["search", "woman running", "--type", "video"])
    assert "1 results" in result.output and "[tier 1] a1" in result.output
    result = runner.invoke(cli, ["search", "woman", "--kind", "action", "--folder", "campaigns"])
    assert result.output.startswith("1 results")  # a1 by its title; a2's object tag is out
    assert "a2" not in result.output
    assert runner.invoke(cli, ["search", "x", "--limit", "0"]).exit_code == 2


def test_stats_and_doctor(runner, catalog_file, tmp_path):
    runner.invoke(cli, ["import", str(catalog_file)])
    stats = json.loads(runner.invoke(cli, ["stats", "--json"]).output)
    assert stats["assets"] == 2 and stats["by_media_type"] == {"image": 1, "video": 1}
    config, checkpoint = write_tiny_model(tmp_path / "model")
    doctor = runner.invoke(
        cli,
        ["doctor"],
        env={"SMARTTAGS_MODEL": str(config), "SMARTTAGS_PRETRAINED": str(checkpoint)},
    )
    assert doctor.exit_code == 0, doctor.output
    assert "FAIL" not in doctor.output
    assert "ok   ffmpeg" in doctor.output and "ok   model" in doctor.output


def test_doctor_says_plainly_when_model_weights_cannot_be_fetched(runner):
    doctor = runner.invoke(cli, ["doctor"], env={"SMARTTAGS_PRETRAINED": "no_such_tag"})
    assert doctor.exit_code != 0
    assert "FAIL model" in doctor.output and "SMARTTAGS_PRETRAINED" in doctor.output


def test_doctor_says_how_to_fix_an_unwritable_data_dir(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(cli, ["--data-dir", str(blocker / "sub"), "doctor"])
    assert result.exit_code != 0
    assert "FAIL data dir" in result.output and "fix: set SMARTTAGS_DATA_DIR" in result.output


def test_unreachable_opensearch_is_a_clear_error(runner):
    result = runner.invoke(
        cli,
        ["--opensearch-url", "http://127.0.0.1:9", "search", "dog"],
        env={"SMARTTAGS_OPENSEARCH_TIMEOUT_S": "1", "SMARTTAGS_OPENSEARCH_MAX_RETRIES": "0"},
    )
    assert result.exit_code == 3
    assert "error:" in result.output and "127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def _all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from _all_commands(command, (*prefix, name))


def test_every_command_has_help_text(runner):
    for path, command in _all_commands(cli):
        assert command.help and command.help.strip(), path
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
