"""Optimistic concurrency, folder settings, the audit log and the index rebuild, on every store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from catalog.asset import Asset, utc_now
from catalog.audit import AuditEntry, ModerationAction, TagState
from catalog.curation import moderate
from catalog.folders import FolderSetting, Toggle
from query.plan import SearchRequest, build_plan
from query.service import run_plan
from tests.fixtures import asset, tag

WRITERS = 8
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def search_ids(store, text: str) -> list[str]:
    page = run_plan(store, build_plan(SearchRequest(text), store.settings))
    return [hit.asset.id for hit in page.hits]


# read / replace
def test_read_gives_the_asset_and_its_version(store):
    store.upsert_many([asset("a", title="Dog")])
    found = store.read("a")
    assert found is not None
    assert found.asset.title == "Dog"
    assert isinstance(found.version, str) and found.version
    assert store.read("missing") is None


def test_replace_at_the_current_version_writes_and_search_sees_it_at_once(store):
    store.upsert_many([asset("a", title="Dog")])
    first = store.read("a")
    changed = first.asset.model_copy(update={"title": "Zebra crossing"})
    assert store.replace(changed, first.version) is True
    assert search_ids(store, "zebra") == ["a"]
    assert store.read("a").version != first.version


def test_replace_at_a_stale_version_writes_nothing(store):
    store.upsert_many([asset("a", title="Dog")])
    seen = store.read("a")
    assert store.replace(seen.asset.model_copy(update={"title": "First"}), seen.version)
    stale = seen.asset.model_copy(update={"title": "Second"})
    assert store.replace(stale, seen.version) is False
    assert store.get("a").title == "First"
    assert search_ids(store, "second") == []


def test_replace_expecting_no_asset_creates_only_once(store):
    created = asset("n", title="New")
    assert store.replace(created, None) is True
    assert store.replace(created.model_copy(update={"title": "Again"}), None) is False
    assert store.get("n").title == "New"
    assert search_ids(store, "new") == ["n"]


def test_replace_keeps_the_creation_time_and_stamps_the_update(store):
    store.upsert_many([asset("a", title="Dog")])
    stored = store.read("a")
    # a document built afresh names no times: the stored creation time must survive
    fresh = Asset.model_validate({"id": "a", "path": "lib/a.jpg", "media_type": "image"})
    before = utc_now()
    assert store.replace(fresh, stored.version)
    after = store.get("a")
    assert after.created_at == stored.asset.created_at
    assert after.updated_at >= before


def test_concurrent_moderations_of_one_asset_all_land(store):
    store.upsert_many([asset("a", title="Dog")])
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            moderate(store, "a", ModerationAction.add, f"tag{i}", f"user{i}", retries=50)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(store.get("a").manual_tags) == sorted(f"tag{i}" for i in range(WRITERS))
    log = store.audit_log("a")
    assert sorted(e.tag for e in log) == sorted(f"tag{i}" for i in range(WRITERS))
    assert {(e.before, e.after) for e in log} == {(TagState.none, TagState.manual)}


# folder settings
def test_folder_settings_save_list_overwrite_and_delete_when_all_inherit(store):
    assert store.folder_settings() == []
    store.save_folder_setting(FolderSetting(folder="a/b", video=Toggle.disable, updated_by="x"))
    store.save_folder_setting(FolderSetting(folder="", image=Toggle.enable))
    got = store.folder_settings()
    assert [(s.folder, s.video, s.image) for s in got] == [
        ("", Toggle.inherit, Toggle.enable),
        ("a/b", Toggle.disable, Toggle.inherit),
    ]
    assert got[1].updated_by == "x"
    store.save_folder_setting(FolderSetting(folder="a/b", video=Toggle.enable))
    assert [s.video for s in store.folder_settings() if s.folder == "a/b"] == [Toggle.enable]
    store.save_folder_setting(FolderSetting(folder="a/b"))
    assert [s.folder for s in store.folder_settings()] == [""]


# audit log
def entry(asset_id: str, seconds: int, tag_name: str) -> AuditEntry:
    return AuditEntry(
        asset_id=asset_id,
        at=T0 + timedelta(seconds=seconds),
        action=ModerationAction.add,
        tag=tag_name,
        before=TagState.none,
        after=TagState.manual,
        actor="tester",
    )


def test_audit_log_is_newest_first_filtered_and_limited(store):
    assert store.audit_log() == []
    for asset_id, seconds, name in [("x", 1, "b"), ("y", 2, "c"), ("x", 0, "a"), ("x", 3, "d")]:
        store.add_audit(entry(asset_id, seconds, name))
    assert [e.tag for e in store.audit_log()] == ["d", "c", "b", "a"]
    assert [e.tag for e in store.audit_log("x")] == ["d", "b", "a"]
    assert [e.tag for e in store.audit_log("x", limit=2)] == ["d", "b"]
    assert store.audit_log("nobody") == []
    first = store.audit_log("y")[0]
    assert first == entry("y", 2, "c").model_copy(update={"id": first.id})


def test_audit_entries_of_the_same_second_come_newest_written_first(store):
    for name in ["first", "second", "third"]:
        store.add_audit(entry("x", 0, name))
    assert [e.tag for e in store.audit_log("x")] == ["third", "second", "first"]


# index rebuild
LIBRARY_QUERIES = ["dog", "red car", "beach sunset", "running", "dog beach"]


def small_library() -> list[Asset]:
    return [
        asset("dog", title="Dog on the beach", smart_tags=[tag("dog", 0.95)]),
        asset("car", title="Red car", smart_tags=[tag("car", 0.83), tag("street", 0.9)]),
        asset("sun", keywords=["sunset", "beach"], smart_tags=[tag("sky", 0.7)]),
        asset("run", smart_tags=[tag("running", 0.8, "action"), tag("dog", 0.75)]),
        asset("walk", manual_tags=["dog"], promoted_tags=["beach"]),
        asset("cat", title="Cat", removed_tags=["dog"], smart_tags=[tag("dog", 0.99)]),
    ]


def results(store) -> dict[str, tuple[int, list[tuple[str, float]]]]:
    found = {}
    for text in LIBRARY_QUERIES:
        page = run_plan(store, build_plan(SearchRequest(text), store.settings))
        found[text] = (page.total, [(h.asset.id, h.score) for h in page.hits])
    return found


def test_rebuild_index_leaves_every_search_result_identical(store):
    library = small_library()
    store.upsert_many(library)
    before = results(store)
    assert all(total for total, _ in before.values())
    documents = {a.id: store.get(a.id) for a in library}
    seen: list[tuple[int, int]] = []
    report = store.rebuild_index(lambda done, total: seen.append((done, total)))
    assert results(store) == before
    assert {a.id: store.get(a.id) for a in library} == documents  # times untouched
    assert report.documents == len(library)
    assert seen and seen[-1] == (len(library), len(library))
    assert store.drop_old_indices() == report.old
    assert results(store) == before
