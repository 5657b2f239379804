"""Every exit code the README documents, for each command that can return it:
0 ok, 1 partly done, 2 bad usage or query, 3 backend unavailable, 4 the model or ffmpeg is not
available. Each error is one line on stderr, never a traceback."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from smarttags.cli import cli
from tests.tiny_model import write_tiny_model

pytest_plugins = ["tests.media"]

ROW = {"id": "a1", "path": "shoot/dog.jpg", "media_type": "image", "title": "A dog"}


@dataclass
class World:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture(scope="module")
def world(tmp_path_factory, media_lib) -> World:
    root = tmp_path_factory.mktemp("codes")
    config, checkpoint = write_tiny_model(root / "model")
    (root / "good.jsonl").write_text(json.dumps(ROW) + "\n")
    (root / "bad.jsonl").write_text(json.dumps(ROW) + "\nnot json\n")
    library = root / "library"
    (library / "shoot").mkdir(parents=True)
    shutil.copy(media_lib["astronaut"], library / "shoot" / "moon.jpg")
    videos = root / "videos"
    videos.mkdir()
    shutil.copy(media_lib["h264_mp4"], videos / "clip.mp4")
    broken = root / "broken"
    broken.mkdir()
    shutil.copy(media_lib["truncated_mp4"], broken / "cut.mp4")
    env = {
        "SMARTTAGS_DATA_DIR": str(root / "data"),
        "SMARTTAGS_MODEL": str(config),
        "SMARTTAGS_PRETRAINED": str(checkpoint),
        "SMARTTAGS_OPENSEARCH_MAX_RETRIES": "0",
        "SMARTTAGS_OPENSEARCH_TIMEOUT_S": "1",
    }
    world = World(root, env)
    assert _run(world, ["import", world.path("good.jsonl")]).exit_code == 0
    return world


def _run(world: World, args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, args, env={**world.env, **(env or {})})


DOWN = ["--backend", "opensearch", "--opensearch-url", "http://127.0.0.1:9"]
NO_MODEL = {"SMARTTAGS_PRETRAINED": "/no/such/checkpoint.pt"}

# (command, arguments, extra environment, code); {name} is a path under the test's folder
CASES = [
    # 0: done
    ("search", ["search", "dog"], None, 0),
    ("stats", ["stats"], None, 0),
    ("import", ["import", "{good.jsonl}"], None, 0),
    ("export", ["export"], None, 0),
    ("tags", ["tags", "a1"], None, 0),
    ("index", ["index", "{library}"], None, 0),
    ("jobs", ["jobs"], None, 0),
    # 1: partly done
    ("import", ["import", "{bad.jsonl}"], None, 1),
    ("index", ["index", "{broken}"], None, 1),
    # 2: bad usage or query
    ("search", ["search", "dog", "--folder", "../outside"], None, 2),
    ("search", ["search", "dog", "--limit", "0"], None, 2),
    ("tags", ["tags", "no-such-asset"], None, 2),
    ("tag", ["tag", "promote", "a1", "volcano"], None, 2),
    ("tag", ["tag", "remove", "a1", "volcano"], None, 2),
    ("jobs", ["jobs", "no-such-job"], None, 2),
    ("index", ["index", "{nowhere}"], None, 2),
    ("keys", ["keys", "add", "x", "--role", "owner"], None, 2),
    ("serve", ["serve", "--host", "0.0.0.0"], None, 2),
    # 3: backend unavailable
    ("search", [*DOWN, "search", "dog"], None, 3),
    ("stats", [*DOWN, "stats"], None, 3),
    ("import", [*DOWN, "import", "{good.jsonl}"], None, 3),
    ("tags", [*DOWN, "tags", "a1"], None, 3),
    ("jobs", [*DOWN, "jobs"], None, 3),
    ("doctor", [*DOWN, "doctor"], None, 3),
    # 4: the model or ffmpeg is not available
    ("index", ["index", "{library}", "--reprocess"], NO_MODEL, 4),
    ("reindex", ["reindex", "--full"], NO_MODEL, 4),
    ("doctor", ["doctor"], NO_MODEL, 4),
    ("index", ["index", "{videos}"], {"SMARTTAGS_FFMPEG_BINARY": "/no/ffmpeg"}, 4),
]


def _expand(world: World, args: list[str]) -> list[str]:
    return [world.path(a[1:-1]) if a.startswith("{") and a.endswith("}") else a for a in args]


@pytest.mark.parametrize(
    ("command", "args", "env", "code"),
    CASES,
    ids=[f"{c}-{code}-{i}" for i, (c, _, _, code) in enumerate(CASES)],
)
def test_documented_exit_codes(world, command, args, env, code):
    result = _run(world, _expand(world, args), env)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if code >= 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
        assert len(errors) <= 1, result.stderr


def test_every_documented_code_is_checked_for_some_command():
    assert {code for *_, code in CASES} == {0, 1, 2, 3, 4}


def test_an_empty_store_says_which_store_it_read_and_how_to_read_another(tmp_path):
    env = {"SMARTTAGS_DATA_DIR": str(tmp_path / "empty")}
    for args in (["search", "woman running"], ["stats"], ["tags", "x1"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert "holds no assets" in result.stderr, args
        assert str(tmp_path / "empty") in result.stderr and "--data-dir" in result.stderr
