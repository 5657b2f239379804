"""`smarttags tags | tag ... | audit | folder ...` against a real SQLite store per test."""

from __future__ import annotations

import getpass
import json

import click
import pytest
from click.testing import CliRunner

from catalog.sqlite_store import SqliteStore
from query.plan import SearchRequest
from query.service import search, tag_listing
from smarttags import cli as main_cli
from smarttags.cli_curation import audit_cmd, folder_group, tag_group, tags_cmd
from tests.backends import make_settings
from tests.fixtures import asset, tag

CURATION_COMMANDS = (tags_cmd, tag_group, audit_cmd, folder_group)

# the real group's options and callback, with the curation commands added (as indexer/cli.py
# will once it wires them)
cli = click.Group(
    "smarttags",
    params=main_cli.cli.params,
    callback=main_cli.cli.callback,
    commands={**main_cli.cli.commands, **{c.name: c for c in CURATION_COMMANDS}},
)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for name in ("OPENSEARCH_URL", "BACKEND", "API_KEYS", "WRITE_RETRIES"):
        monkeypatch.delenv(f"SMARTTAGS_{name}", raising=False)
    monkeypatch.setenv("SMARTTAGS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    return make_settings(tmp_path)


@pytest.fixture
def store(settings):
    opened = SqliteStore(settings)
    opened.upsert_many(
        [
            asset(
                "a1",
                path="campaigns/summer/clip1.mp4",
                title="Holiday",
                smart_tags=[
                    tag("running", 0.88, "action", [[0.0, 4.5]]),
                    tag("beach", 0.95),
                    tag("sand", 0.4),
                ],
                manual_tags=["summer"],
            ),
            asset("a2", path="campaigns/winter/pet.jpg", smart_tags=[tag("dog", 0.9)]),
        ]
    )
    yield opened
    opened.close()


@pytest.fixture
def run(store):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> click.testing.Result:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result

    return invoke


def hit_ids(store, settings, text: str) -> list[str]:
    return [h["id"] for h in search(store, SearchRequest(text), settings)["hits"]]


def test_tags_lists_every_tag_as_search_shows_them(run, store, settings):
    listed = json.loads(run("tags", "a1", "--json").output)
    assert listed["tags"] == tag_listing(store.get("a1"), settings)
    assert [r["tag"] for r in listed["tags"]] == ["summer", "beach", "running", "sand"]
    assert listed["removed"] == []
    lines = run("tags", "a1").output.splitlines()
    assert lines[0].split() == [
        "tag",
        "kind",
        "source",
        "confidence",
        "weight",
        "effective",
        "suggested",
        "threshold",
        "segments",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["summer", "beach", "running", "sand"]
    running = ["running", "action", "machine", "0.88", "0.88", "yes", "no", "0.70", "0:00.0-0:04.5"]
    assert lines[3].split() == running
    assert lines[4].split()[5:7] == ["no", "yes"]  # sand is under the object threshold
    assert lines[1].split()[7] == "-"  # a manual tag the machine never proposed


def test_remove_hides_the_tag_from_search_and_is_audited(run, store, settings):
    assert hit_ids(store, settings, "beach") == ["a1"]
    out = run("tag", "remove", "a1", "Beach").output
    assert "remove 'beach' on a1: not curated → removed" in out
    assert hit_ids(store, settings, "beach") == []
    listed = json.loads(run("tags", "a1", "--json").output)
    assert "beach" not in [r["tag"] for r in listed["tags"]]
    assert listed["removed"] == [
        {"tag": "beach", "kind": "object", "confidence": 0.95, "segments": []}
    ]
    assert "smarttags tag restore a1 TAG" in run("tags", "a1").output
    entries = json.loads(run("audit", "a1", "--json").output)
    assert [(e["action"], e["tag"], e["before"], e["after"], e["actor"]) for e in entries] == [
        ("remove", "beach", "none", "removed", "user:alice")
    ]


def test_a_repeated_moderation_is_unchanged_and_not_audited(run):
    run("tag", "remove", "a1", "beach")
    assert (
        "unchanged: 'beach' on a1 is already removed" in run("tag", "remove", "a1", "beach").output
    )
    assert len(json.loads(run("audit", "a1", "--json").output)) == 1


def test_restore_brings_the_machine_tag_back(run, store, settings):
    run("tag", "remove", "a1", "beach")
    out = run("tag", "restore", "a1", "beach").output
    assert "restore 'beach' on a1: removed → not curated" in out
    assert hit_ids(store, settings, "beach") == ["a1"]
    beach = next(r for r in tag_listing(store.get("a1"), settings) if r["tag"] == "beach")
    assert (beach["source"], beach["weight"]) == ("machine", 0.95)


def test_promote_ranks_with_the_promote_boost(run, store, settings):
    store.upsert_many([asset("a3", smart_tags=[tag("dog", 0.95)])])
    assert hit_ids(store, settings, "dog") == ["a3", "a2"]
    result = json.loads(run("tag", "promote", "a2", "dog", "--json").output)
    assert (result["before"], result["after"], result["changed"]) == ("none", "promoted", True)
    assert result["tags"][0] == {
        "tag": "dog",
        "kind": "object",
        "source": "promoted",
        "confidence": 0.9,  # the machine's confidence, shown beside the curated weight
        "weight": settings.promote_boost,
        "effective": True,
        "suggested": False,
        "threshold": settings.min_object_confidence,
        "segments": [],
    }
    hits = search(store, SearchRequest("dog"), settings)["hits"]
    assert [h["id"] for h in hits] == ["a2", "a3"]
    assert hits[0]["matched"]["tags"][0]["weight"] == settings.promote_boost


def test_promote_of_an_unknown_tag_is_refused(run):
    result = run("tag", "promote", "a1", "volcano", code=2)
    assert "no tag 'volcano' to promote" in result.output
    assert json.loads(run("audit", "a1", "--json").output) == []


def test_add_gives_a_manual_tag_of_weight_one(run, store, settings):
    assert "add 'red car' on a2: not curated → manual" in run("tag", "add", "a2", "Red  Car").output
    row = next(r for r in tag_listing(store.get("a2"), settings) if r["tag"] == "red car")
    assert (row["source"], row["weight"], row["kind"]) == ("manual", 1.0, "custom")
    assert hit_ids(store, settings, "car") == ["a2"]


def test_undo_reverts_the_latest_moderation(run, store, settings):
    run("tag", "remove", "a1", "beach")
    run("tag", "add", "a1", "sunset")
    assert "undo 'sunset' on a1: manual → not curated" in run("tag", "undo", "a1").output
    assert "undo 'beach' on a1: removed → not curated" in run("tag", "undo", "a1").output
    assert hit_ids(store, settings, "beach") == ["a1"]
    entries = json.loads(run("audit", "a1", "--json").output)
    assert [(e["action"], e["tag"]) for e in entries] == [
        ("undo", "beach"),
        ("undo", "sunset"),
        ("add", "sunset"),
        ("remove", "beach"),
    ]
    assert entries[0]["undoes"] == entries[3]["id"]
    assert "no moderation left to undo" in run("tag", "undo", "a1", code=2).output


def test_audit_text_and_limit(run):
    run("tag", "remove", "a1", "beach")
    run("tag", "add", "a1", "sunset")
    lines = run("audit", "a1", "--limit", "1").output.splitlines()
    assert len(lines) == 1
    assert "user:alice  add 'sunset': not curated → manual" in lines[0]
    assert "no moderation recorded for a2" in run("audit", "a2").output


@pytest.mark.parametrize(
    "args",
    [
        ("tags", "nope"),
        ("tag", "remove", "nope", "beach"),
        ("tag", "add", "nope", "beach"),
        ("tag", "undo", "nope"),
        ("audit", "nope"),
    ],
)
def test_an_unknown_asset_exits_2_with_a_message(run, args):
    assert "no asset with id 'nope'" in run(*args, code=2).output


def test_a_blank_tag_exits_2(run):
    assert "must not be empty" in run("tag", "add", "a1", "  ", code=2).output


def test_a_write_conflict_exits_3(run, monkeypatch):
    monkeypatch.setenv("SMARTTAGS_WRITE_RETRIES", "1")
    monkeypatch.setattr(SqliteStore, "replace", lambda self, asset, expected: False)
    result = run("tag", "remove", "a1", "beach", code=3)
    assert "changed under 2 attempts" in result.output


def test_folder_set_and_show_display_inheritance(run):
    out = run("folder", "set", "campaigns", "--video", "disable").output
    assert "video: disable  effective disable (set here)" in out
    assert "set by user:alice" in out
    shown = json.loads(run("folder", "show", "campaigns/summer/day1", "--json").output)
    assert shown["video"] == {
        "setting": "inherit",
        "effective": "disable",
        "inherited_from": "campaigns",
    }
    assert shown["image"] == {"setting": "inherit", "effective": "enable", "inherited_from": None}
    text = run("folder", "show", "campaigns/summer/day1").output
    assert "video: inherit  effective disable (inherited from 'campaigns')" in text
    assert "image: inherit  effective enable (library default)" in text


def test_folder_set_keeps_what_it_is_not_given_and_the_root_is_dot(run):
    run("folder", "set", "a", "--video", "disable")
    shown = json.loads(run("folder", "set", "a", "--image", "enable", "--json").output)
    assert (shown["video"]["setting"], shown["image"]["setting"]) == ("disable", "enable")
    run("folder", "set", ".", "--image", "disable")
    below = json.loads(run("folder", "show", "b/c", "--json").output)
    assert below["image"] == {"setting": "inherit", "effective": "disable", "inherited_from": ""}
    assert "inherited from 'the library root'" in run("folder", "show", "b/c").output
    listed = json.loads(run("folder", "list", "--json").output)
    assert [f["folder"] for f in listed] == ["", "a"]
    run("folder", "set", "a", "--video", "inherit", "--image", "inherit")
    assert [f["folder"] for f in json.loads(run("folder", "list", "--json").output)] == [""]
    assert "(library root)" in run("folder", "list").output


def test_folder_set_needs_an_option_and_a_path_inside_the_library(run):
    assert "give --video and/or --image" in run("folder", "set", "a", code=2).output
    assert "inside the library root" in run("folder", "show", "../etc", code=2).output
    assert run("folder", "set", "a", "--video", "maybe", code=2).output
    assert "no folder has its own setting" in run("folder", "list").output


def test_every_curation_command_has_help_text():
    def walk(command: click.Command):
        yield command
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from walk(sub)

    for top in CURATION_COMMANDS:
        for command in walk(top):
            assert command.help and command.help.strip(), command.name
            result = CliRunner().invoke(command, ["--help"])
            assert result.exit_code == 0, result.output


@pytest.mark.parametrize("action", ["remove", "restore", "promote"])
def test_a_name_the_asset_does_not_carry_is_refused_alike_with_the_near_names(run, action):
    result = run("tag", action, "a1", "runing", code=2)
    assert "has no tag 'runing'" in result.output and "'running'" in result.output
    assert "tag add" in result.output
    listing = json.loads(run("tags", "a1", "--json").output)
    assert "runing" not in {t["tag"] for t in listing["tags"]} and listing["removed"] == []


def test_only_add_introduces_a_new_name_and_then_the_others_accept_it(run):
    run("tag", "add", "a1", "brand x")
    run("tag", "promote", "a1", "brand x")
    run("tag", "remove", "a1", "brand x")
    run("tag", "restore", "a1", "brand x")
    run("tag", "remove", "a1", "sand")  # a machine tag under its threshold is carried too
