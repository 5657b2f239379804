"""Thresholds learned from curation and the review queue: verdicts, the threshold that reaches
the target precision, the queue's accept and reject round trip (HTTP and CLI), on every store."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from catalog.audit import ModerationAction
from catalog.settings import Settings
from catalog.tag_thresholds import Verdict, current_thresholds, learned_threshold, refresh_all
from query.api import create_app
from query.curation_service import apply_moderation
from query.plan import SearchRequest
from query.service import search
from smarttags.cli import cli
from tests.fixtures import asset, tag

ACTOR = "user:test"
TAGGED = "2026-02-01T10:{:02d}:00Z"


def _verdicts(*pairs: tuple[float, bool]) -> list[Verdict]:
    return [Verdict(f"a{i}", "object", c, p) for i, (c, p) in enumerate(pairs)]


# learning, as plain functions


def test_too_few_verdicts_learn_nothing():
    settings = Settings(tag_feedback_min=10)
    assert learned_threshold(_verdicts(*[(0.8, False)] * 9), settings) is None
    assert learned_threshold(_verdicts(*[(0.8, False)] * 10), settings) is not None


def test_rejections_alone_put_the_threshold_above_every_judged_confidence():
    settings = Settings()
    confidences = [0.7 + i / 100 for i in range(20)]
    learned = learned_threshold(_verdicts(*[(c, False) for c in confidences]), settings)
    assert learned > max(confidences)
    assert learned == pytest.approx(max(confidences), abs=1 / settings.weight_quantum)


def test_the_threshold_is_the_lowest_confidence_keeping_the_target_precision():
    settings = Settings(tag_target_precision=0.9)
    good = [(0.99, True), (0.97, True), (0.95, True), (0.93, True), (0.9, True)] * 2
    doubtful = [(0.8, False), (0.78, True), (0.75, False), (0.72, False)]
    learned = learned_threshold(_verdicts(*good, *doubtful), settings)
    # precision at or above: 0.8 -> 10/11, 0.78 -> 11/12, 0.75 -> 11/13, 0.72 -> 11/14
    assert learned == 0.78
    loose = Settings(tag_target_precision=0.78)
    assert learned_threshold(_verdicts(*good, *doubtful), loose) == 0.72  # 11/14 = 0.786


def test_accepted_suggestions_lower_the_threshold_below_the_kind_default():
    settings = Settings()
    accepted = [(0.4 + i / 100, True) for i in range(12)]
    assert learned_threshold(_verdicts(*accepted), settings) == 0.4 < settings.threshold("object")


# on every store


def _dogs(store, count: int = 20) -> list[str]:
    """`count` assets whose machine tag `dog` is about to be rejected, and two others."""
    ids = [f"r{i:02d}" for i in range(count)]
    store.upsert_many(
        [
            asset(i, smart_tags=[tag("dog", 0.7 + n / 80)], tagged_at=TAGGED.format(n % 60))
            for n, i in enumerate(ids)
        ]
        + [
            asset("weaker", smart_tags=[tag("dog", 0.8)]),
            asset("stronger", smart_tags=[tag("dog", 0.97)]),
        ]
    )
    return ids


def _ids(store, text: str) -> list[str]:
    return [h["id"] for h in search(store, SearchRequest(text, limit=50), store.settings)["hits"]]


def test_twenty_rejections_raise_the_threshold_above_those_assets_confidences(store):
    rejected = _dogs(store)
    settings = store.settings
    assert {"weaker", "stronger"} <= set(_ids(store, "dog"))
    for asset_id in rejected:
        apply_moderation(store, settings, asset_id, ModerationAction.remove, "dog", ACTOR)
    (record,) = store.tag_thresholds()
    assert (record.tag, record.positives, record.negatives) == ("dog", 0, 20)
    confidences = [store.get(i).smart_tags[0].confidence for i in rejected]
    assert record.threshold > max(confidences)
    assert current_thresholds(store, settings).of("dog", "object") == record.threshold
    assert _ids(store, "dog") == ["stronger"]  # `weaker` (0.8) no longer counts
    weaker = search(store, SearchRequest("weaker"), settings, with_tags=True)["hits"][0]
    assert weaker["tags"][0]["suggested"] and weaker["tags"][0]["threshold"] == record.threshold

    for asset_id in rejected[:15]:  # restored: those verdicts are withdrawn
        apply_moderation(store, settings, asset_id, ModerationAction.restore, "dog", ACTOR)
    (record,) = store.tag_thresholds()
    assert (record.negatives, record.threshold) == (5, None)  # too few: the kind's again
    assert "weaker" in _ids(store, "dog")


def test_a_manual_tag_the_machine_never_proposed_is_no_evidence(store):
    store.upsert_many([asset("m", smart_tags=[tag("cat", 0.9)])])
    apply_moderation(store, store.settings, "m", ModerationAction.add, "hero shot", ACTOR)
    assert store.tag_thresholds() == []
    apply_moderation(store, store.settings, "m", ModerationAction.promote, "cat", ACTOR)
    assert [(r.tag, r.positives) for r in store.tag_thresholds()] == [("cat", 1)]


def test_recompute_learns_what_the_overlays_and_the_audit_log_say(store):
    rejected = _dogs(store, 12)
    for asset_id in rejected:
        apply_moderation(store, store.settings, asset_id, ModerationAction.remove, "dog", ACTOR)
    store.delete_tag_thresholds(["dog"])  # lost, e.g. curated before this version
    assert store.tag_thresholds() == []
    records = refresh_all(store, store.settings)
    assert [(r.tag, r.negatives) for r in records] == [("dog", 12)]
    assert records[0].threshold is not None


# the review queue


def _queue_library(store) -> None:
    store.upsert_many(
        [
            asset(
                "new",
                path="shoot/new.jpg",
                smart_tags=[tag("beach", 0.95), tag("sand", 0.66), tag("boat", 0.35)],
                tagged_at="2026-03-02T00:00:00Z",
            ),
            asset(
                "old",
                path="archive/old.jpg",
                smart_tags=[tag("sand", 0.68), tag("kite", 0.5, "action", [[1.0, 2.5]])],
                removed_tags=["kite"],
                tagged_at="2026-03-01T00:00:00Z",
            ),
            asset("never", path="imports/never.jpg", smart_tags=[tag("sand", 0.69)]),
        ]
    )


def _queue(client, **params) -> list[tuple[str, str]]:
    found = client.get("/review", params=params)
    assert found.status_code == 200, found.text
    return [(i["asset_id"], i["tag"]) for i in found.json()["items"]]


def test_the_review_queue_lists_suggestions_most_uncertain_first(store):
    _queue_library(store)
    with TestClient(create_app(store.settings, store)) as client:
        body = client.get("/review").json()
        assert body["total"] == 3
        # closest under the threshold first; curated (kite) and never tagged assets left out
        assert [(i["asset_id"], i["tag"]) for i in body["items"]] == [
            ("old", "sand"),
            ("new", "sand"),
            ("new", "boat"),
        ]
        first = body["items"][0]
        assert first["threshold"] == 0.7 and first["confidence"] == 0.68
        assert first["path"] == "archive/old.jpg" and first["media_type"] == "image"
        assert _queue(client, folder="shoot") == [("new", "sand"), ("new", "boat")]
        assert _queue(client, limit=1, offset=1) == [("new", "sand")]
        assert client.get("/review", params={"limit": 0}).status_code == 422


def test_accepting_and_rejecting_suggestions_round_trip(store):
    _queue_library(store)
    with TestClient(create_app(store.settings, store)) as client:
        accepted = client.post("/assets/old/tags", json={"action": "add", "tag": "sand"})
        assert accepted.status_code == 200, accepted.text
        assert (accepted.json()["before"], accepted.json()["after"]) == ("none", "manual")
        rejected = client.post("/assets/new/tags", json={"action": "remove", "tag": "boat"})
        assert rejected.json()["after"] == "removed"
        assert _queue(client) == [("new", "sand")]
        rows = {r["tag"]: r for r in client.get("/assets/old/tags").json()["tags"]}
        assert rows["sand"]["source"] == "manual" and not rows["sand"]["suggested"]
        assert [h["id"] for h in client.get("/search", params={"q": "sand"}).json()["hits"]] == [
            "old"
        ]
        table = client.get("/tags/thresholds").json()
        assert table["defaults"] == {"object": 0.7, "action": 0.7, "custom": 0.7}
        shown = {(r["tag"], r["source"], r["positives"], r["negatives"]) for r in table["tags"]}
        assert shown == {("sand", "default", 1, 0), ("boat", "default", 0, 1)}
        assert {r["threshold"] for r in table["tags"]} == {0.7}


def test_review_and_thresholds_on_the_command_line(tmp_path, monkeypatch):
    from catalog.sqlite_store import SqliteStore
    from tests.backends import make_settings

    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    settings = make_settings(tmp_path)
    opened = SqliteStore(settings)
    _queue_library(opened)
    opened.close()
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(cli, ["--data-dir", str(settings.data_dir), *args])
        assert done.exit_code == 0, done.output
        return done.output

    listed = json.loads(run("review", "--json"))
    first = listed["items"][0]
    assert (first["asset_id"], first["tag"]) == ("old", "sand")
    table = run("review", "--limit", "2")
    assert "3 suggested tags" in table and "old" in table and "boat" not in table
    assert "not curated → manual" in run("review", "accept", "old", "sand")
    assert json.loads(run("review", "reject", "new", "boat", "--json"))["after"] == "removed"
    assert json.loads(run("review", "--json"))["total"] == 1
    thresholds = json.loads(run("tag-thresholds", "--json"))
    assert {(r["tag"], r["positives"], r["negatives"]) for r in thresholds["tags"]} == {
        ("sand", 1, 0),
        ("boat", 0, 1),
    }
    shown = run("tag-thresholds", "--recompute")
    assert "kind thresholds: object 0.70" in shown and "sand" in shown and "default" in shown
    tags = run("tags", "new")
    header, *rows = tags.splitlines()
    assert "suggested" in header
    sand = next(r for r in rows if r.startswith("sand"))
    assert sand.split()[5:8] == ["no", "yes", "0.70"]  # not effective, suggested, threshold
    data = ["--data-dir", str(settings.data_dir)]
    unknown = runner.invoke(cli, [*data, "review", "accept", "x", "y"])
    assert unknown.exit_code == 2 and "no asset" in unknown.output
