"""The OpenSearch Dashboards saved objects (mappings/dashboards.ndjson).

Structurally: every line parses, every reference resolves, every field a visualization
aggregates exists in the mapping of its index pattern with a type that aggregation takes (no
`nested` field: standard visualizations cannot aggregate those), and the dashboard holds
every visualization. Each check is shown to fail on a broken copy.

Then live: each visualization's aggregations, as Dashboards would send them, run against
osmem over documents the store wrote, and find the data they are meant to show.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from catalog.asset import Asset, TagKind
from catalog.audit import AuditEntry, ModerationAction, TagState
from catalog.folders import FolderSetting, Toggle
from catalog.opensearch_store import OpenSearchStore, index_document, load_mapping
from mappings import resource
from tests.backends import make_settings

Obj = dict[str, Any]
ALIAS = "smarttags-assets"  # the default alias: the saved index patterns name it
MAPPING_OF = {
    ALIAS: "assets.json",
    f"{ALIAS}-audit": "audit.json",
    f"{ALIAS}-folders": "folders.json",
}
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
AGGREGATABLE = NUMERIC | {"keyword", "date", "boolean", "ip"}
FIELD_TYPES = {  # the field types each aggregation used by the dashboard takes
    "terms": AGGREGATABLE,
    "sum": NUMERIC,
    "avg": NUMERIC,
    "max": NUMERIC,
    "histogram": NUMERIC,
    "date_histogram": {"date"},
    "cardinality": AGGREGATABLE,
}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def shipped_lines() -> list[str]:
    return resource("dashboards.ndjson").read_text(encoding="utf-8").splitlines()


def aggregatable_fields(mapping: dict[str, Any]) -> dict[str, str]:
    """Dotted field name -> type, for the fields a standard visualization can aggregate:
    leaves outside `nested` and disabled objects."""

    def walk(props: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
        for name, spec in props.items():
            if spec.get("type") == "nested" or spec.get("enabled") is False:
                continue
            if "properties" in spec:
                yield from walk(spec["properties"], f"{prefix}{name}.")
            elif spec.get("type") in AGGREGATABLE:
                yield f"{prefix}{name}", spec["type"]

    return dict(walk(mapping["mappings"]["properties"], ""))


def shipped_fields() -> dict[str, dict[str, str]]:
    return {title: aggregatable_fields(load_mapping(f)) for title, f in MAPPING_OF.items()}


def parse(lines: list[str]) -> tuple[list[Obj], list[str]]:
    objects, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not JSON ({exc})")
            continue
        missing = {"type", "id", "attributes", "references"} - set(obj)
        if missing:
            problems.append(f"line {number}: no {', '.join(sorted(missing))}")
            continue
        objects.append(obj)
    return objects, problems


def _index_pattern(obj: Obj, by_key: dict[tuple[str, str], Obj]) -> Obj | None:
    ref = next((r for r in obj["references"] if r["name"] == INDEX_REF), None)
    return None if ref is None else by_key.get(("index-pattern", ref["id"]))


def _ref_names_used(obj: Obj) -> set[str]:
    attrs = obj["attributes"]
    used = set()
    meta = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if meta and "indexRefName" in json.loads(meta):
        used.add(json.loads(meta)["indexRefName"])
    for panel in json.loads(attrs.get("panelsJSON", "[]")):
        used.add(panel.get("panelRefName"))
    return used


def _check_references(obj: Obj, by_key: dict[tuple[str, str], Obj]) -> list[str]:
    where = f"{obj['type']} {obj['id']}"
    problems = [
        f"{where}: references {ref['type']} {ref['id']}, which is not in the file"
        for ref in obj["references"]
        if (ref["type"], ref["id"]) not in by_key
    ]
    names = {ref["name"] for ref in obj["references"]}
    problems += [
        f"{where}: uses reference {name!r}, which it does not declare"
        for name in sorted(_ref_names_used(obj) - names, key=str)
    ]
    return problems


def _check_index_pattern(obj: Obj, fields: dict[str, dict[str, str]]) -> list[str]:
    title = obj["attributes"]["title"]
    if title not in fields:
        return [f"index-pattern {obj['id']}: {title!r} is none of smarttags' indices"]
    time_field = obj["attributes"].get("timeFieldName")
    if time_field and fields[title].get(time_field) != "date":
        return [f"index-pattern {obj['id']}: time field {time_field!r} is not a date field"]
    return []


def _check_fields(obj: Obj, pattern: Obj | None, fields: dict[str, dict[str, str]]) -> list[str]:
    where = f"{obj['type']} {obj['id']}"
    if pattern is None:
        return [f"{where}: no index pattern"]
    known = fields.get(pattern["attributes"]["title"], {})
    problems = []
    if obj["type"] == "visualization":
        for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
            field = agg["params"].get("field")
            if field is None:
                continue
            if field not in known:
                problems.append(f"{where}: {field!r} is not an aggregatable field")
            elif known[field] not in FIELD_TYPES.get(agg["type"], AGGREGATABLE):
                problems.append(f"{where}: {agg['type']} cannot aggregate {known[field]} {field!r}")
    else:  # a saved search: its columns and sort
        named = obj["attributes"].get("columns", []) + [s[0] for s in obj["attributes"]["sort"]]
        problems += [f"{where}: no field {name!r}" for name in named if name not in known]
    return problems


def problems_of(lines: list[str], fields: dict[str, dict[str, str]]) -> list[str]:
    objects, problems = parse(lines)
    by_key: dict[tuple[str, str], Obj] = {}
    for obj in objects:
        key = (obj["type"], obj["id"])
        if key in by_key:
            problems.append(f"{obj['type']} {obj['id']}: defined twice")
        by_key[key] = obj
    on_dashboards = set()
    for obj in objects:
        problems += _check_references(obj, by_key)
        if obj["type"] == "index-pattern":
            problems += _check_index_pattern(obj, fields)
        elif obj["type"] in ("visualization", "search"):
            problems += _check_fields(obj, _index_pattern(obj, by_key), fields)
        elif obj["type"] == "dashboard":
            on_dashboards |= {(r["type"], r["id"]) for r in obj["references"]}
    problems += [
        f"{kind} {oid}: on no dashboard"
        for kind, oid in by_key
        if kind in ("visualization", "search") and (kind, oid) not in on_dashboards
    ]
    return problems


def test_the_shipped_saved_objects_hold_together():
    assert problems_of(shipped_lines(), shipped_fields()) == []


def _objects() -> list[Obj]:
    return parse(shipped_lines())[0]


def _find(objects: list[Obj], oid: str) -> Obj:
    return next(o for o in objects if o["id"] == oid)


def _set_field(objects: list[Obj], vis_id: str, field: str) -> None:
    vis = _find(objects, vis_id)
    state = json.loads(vis["attributes"]["visState"])
    next(a for a in state["aggs"] if "field" in a["params"])["params"]["field"] = field
    vis["attributes"]["visState"] = json.dumps(state)


def _drop_from_dashboard(objects: list[Obj], vis_id: str) -> None:
    board = _find(objects, "smarttags-overview")
    ref = next(r for r in board["references"] if r["id"] == vis_id)
    board["references"].remove(ref)
    panels = json.loads(board["attributes"]["panelsJSON"])
    kept = [p for p in panels if p["panelRefName"] != ref["name"]]
    board["attributes"]["panelsJSON"] = json.dumps(kept)


def _rename_ref(objects: list[Obj], oid: str, new_id: str) -> None:
    _find(objects, "smarttags-overview")["references"][0]["id"] = new_id


def _drop_declared_ref(objects: list[Obj], oid: str) -> None:
    _find(objects, oid)["references"].clear()


def _time_field(objects: list[Obj], oid: str) -> None:
    _find(objects, oid)["attributes"]["timeFieldName"] = "asset_id"


def _sort_field(objects: list[Obj], oid: str) -> None:
    _find(objects, oid)["attributes"]["sort"] = [["modified", "desc"]]


BREAKAGES: dict[str, tuple[Callable[[list[Obj]], None], str]] = {
    "unknown field": (lambda o: _set_field(o, "smarttags-top-tags", "tag"), "not an aggregatable"),
    "nested field": (
        lambda o: _set_field(o, "smarttags-assets-by-tag-kind", "tags.kind"),
        "not an aggregatable",
    ),
    "wrong field type": (
        lambda o: _set_field(o, "smarttags-tag-confidence", "status"),
        "histogram cannot aggregate keyword",
    ),
    "field of another index": (
        lambda o: _set_field(o, "smarttags-folder-opt-outs", "status"),
        "not an aggregatable",
    ),
    "dangling reference": (
        lambda o: _rename_ref(o, "smarttags-overview", "smarttags-gone"),
        "not in the file",
    ),
    "undeclared reference": (
        lambda o: _drop_declared_ref(o, "smarttags-curation-activity"),
        "does not declare",
    ),
    "not on the dashboard": (
        lambda o: _drop_from_dashboard(o, "smarttags-folder-opt-outs"),
        "on no dashboard",
    ),
    "time field not a date": (lambda o: _time_field(o, "smarttags-assets-audit"), "time field"),
    "saved search sort field": (lambda o: _sort_field(o, "smarttags-recent-assets"), "no field"),
    "defined twice": (lambda o: o.append(copy.deepcopy(o[0])), "defined twice"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_check_fails_on_a_broken_copy(breakage):
    objects = copy.deepcopy(_objects())
    breaks, expected = BREAKAGES[breakage]
    breaks(objects)
    lines = [json.dumps(o) for o in objects]
    found = problems_of(lines, shipped_fields())
    assert any(expected in p for p in found), found


def test_a_line_that_is_not_json_is_reported():
    lines = [*shipped_lines(), '{"type": "visualization", "id": ']
    assert any("not JSON" in p for p in problems_of(lines, shipped_fields()))


def _aggs_of(vis: Obj) -> list[dict[str, Any]]:
    return json.loads(vis["attributes"]["visState"])["aggs"]


def test_the_dashboard_shows_what_the_issue_asks_for():
    objects = _objects()
    board = _find(objects, "smarttags-overview")
    shown = set()
    for ref in board["references"]:
        obj = _find(objects, ref["id"])
        if obj["type"] != "visualization":
            continue
        index = next(r["id"] for r in obj["references"] if r["name"] == INDEX_REF)
        shown |= {(index, a["type"], a["params"].get("field")) for a in _aggs_of(obj)}
    wanted = {
        "tags by kind": (ALIAS, "sum", "tag_counts.object"),
        "assets by tag kind": (ALIAS, "terms", "tag_kinds"),
        "confidence distribution": (ALIAS, "histogram", "tag_confidences"),
        "assets by status": (ALIAS, "terms", "status"),
        "and reason": (ALIAS, "terms", "status_reason"),
        "curation over time": (f"{ALIAS}-audit", "date_histogram", "at"),
        "folder opt-outs": (f"{ALIAS}-folders", "terms", "folder"),
    }
    assert {name for name, view in wanted.items() if view not in shown} == set()


def test_the_flat_tag_fields_mirror_the_tags():
    from tests.fixtures import asset, tag

    doc = index_document(
        asset(
            "a1",
            smart_tags=[tag("dog", 0.9), tag("cat", 0.2), tag("running", 0.75, "action")],
            manual_tags=["holiday"],
            promoted_tags=["dog"],
            removed_tags=["cat"],
            status="failed",
            status_reason="corrupt",
        ),
        256,
    )
    assert doc["tag_kinds"] == ["action", "custom", "object"]
    # dog (machine), dog (promoted), running, holiday (manual); the removed cat is gone
    assert doc["tag_counts"] == {"object": 2, "action": 1, "custom": 1}
    assert sorted(doc["tag_confidences"]) == [0.75, 0.9]
    assert doc["status_reason"] == "corrupt"
    assert set(doc["tag_counts"]) == {k.value for k in TagKind}


# live: the visualizations' aggregations over what the store wrote
def _bucket_agg(agg: dict[str, Any]) -> dict[str, Any]:
    params = agg["params"]
    if agg["type"] == "terms":
        key = "_key" if params["orderBy"] == "_key" else "_count"
        body = {"field": params["field"], "size": params["size"], "order": {key: params["order"]}}
        if params.get("missingBucket"):
            body["missing"] = params["missingBucketLabel"]
        return {"terms": body}
    if agg["type"] == "histogram":
        bounds = params.get("extended_bounds") if params.get("has_extended_bounds") else None
        body = {"field": params["field"], "interval": params["interval"]}
        return {"histogram": {**body, **({"extended_bounds": bounds} if bounds else {})}}
    if agg["type"] == "date_histogram":  # "auto" picks an interval by the time range
        return {"date_histogram": {"field": params["field"], "fixed_interval": "1d"}}
    raise AssertionError(f"add {agg['type']} to this translation")


def request_body(vis: Obj) -> dict[str, Any]:
    """The aggregation request of a visualization: bucket aggregations nested in order,
    metrics (other than count) at the leaves."""
    aggs = [a for a in _aggs_of(vis) if a["enabled"]]
    leaf = {
        a["id"]: {a["type"]: {"field": a["params"]["field"]}}
        for a in aggs
        if a["schema"] == "metric" and a["type"] != "count"
    }
    for agg in reversed([a for a in aggs if a["schema"] != "metric"]):
        leaf = {agg["id"]: {**_bucket_agg(agg), **({"aggs": leaf} if leaf else {})}}
    return {"size": 0, "aggs": leaf}


def rows(result: dict[str, Any], path: tuple = ()) -> Iterator[tuple]:
    """Flatten nested buckets into rows of keys ending in the doc count; metrics alone
    give one row of their values."""
    nested = [(k, v) for k, v in result.items() if isinstance(v, dict) and "buckets" in v]
    if not nested:
        values = tuple(v["value"] for v in result.values() if isinstance(v, dict) and "value" in v)
        yield (*path, *values, result.get("doc_count"))
        return
    for _, agg in nested:
        for bucket in agg["buckets"]:
            yield from rows(bucket, (*path, bucket.get("key_as_string", bucket["key"])))


TAGGED = [
    {"tag": "dog", "kind": "object", "confidence": 0.92},
    {"tag": "sand", "kind": "object", "confidence": 0.31},
    {"tag": "running", "kind": "action", "confidence": 0.81},
]


@pytest.fixture
def live(osmem_clone, tmp_path):
    settings = make_settings(
        tmp_path, backend="opensearch", opensearch_url=osmem_clone.url, opensearch_index=ALIAS
    )
    store = OpenSearchStore(settings)
    store.upsert_many(
        [
            Asset(path="beach/run.mp4", media_type="video", status="tagged", smart_tags=TAGGED),
            Asset(
                path="beach/dog.jpg",
                media_type="image",
                status="tagged",
                smart_tags=TAGGED[:1],
                manual_tags=["holiday"],
            ),
            Asset(
                path="beach/broken.mp4",
                media_type="video",
                status="failed",
                status_reason="corrupt",
            ),
            Asset(
                path="docs/huge.mov",
                media_type="video",
                status="skipped",
                status_reason="too_large",
            ),
        ]
    )
    store.add_audit(
        AuditEntry(
            asset_id="x",
            action=ModerationAction.remove,
            tag="sand",
            before=TagState.none,
            after=TagState.removed,
            actor="api:alice",
        )
    )
    store.save_folder_setting(
        FolderSetting(
            folder="private", video=Toggle.disable, image=Toggle.disable, updated_by="api:alice"
        )
    )
    yield store
    store.close()


def _run(store: OpenSearchStore, vis_id: str) -> list[tuple]:
    vis = _find(_objects(), vis_id)
    index = next(r["id"] for r in vis["references"] if r["name"] == INDEX_REF)
    found = store.client.search(index=index, body=request_body(vis))
    return list(rows(found.get("aggregations", {})))


def test_each_visualization_finds_its_data_in_what_the_store_wrote(live):
    assert _run(live, "smarttags-tags-by-kind") == [(3.0, 1.0, 1.0, None)]
    kinds = {r[0]: r[-1] for r in _run(live, "smarttags-assets-by-tag-kind")}
    assert kinds == {"object": 2, "action": 1, "custom": 1, "no tags": 2}
    confidence = {round(r[0], 2): r[-1] for r in _run(live, "smarttags-tag-confidence")}
    assert (confidence[0.9], confidence[0.8], confidence[0.3]) == (2, 1, 1)
    assert sum(confidence.values()) == 4 and min(confidence) == 0.0
    status = {r[:2]: r[-1] for r in _run(live, "smarttags-assets-by-status")}
    assert status == {
        ("tagged", "-"): 2,
        ("failed", "corrupt"): 1,
        ("skipped", "too_large"): 1,
    }
    tags = Counter({r[0]: r[-1] for r in _run(live, "smarttags-top-tags")})
    assert tags.most_common(1) == [("dog", 2)]
    activity = _run(live, "smarttags-curation-activity")
    assert [(r[1], r[-1]) for r in activity] == [("remove", 1)]
    assert _run(live, "smarttags-folder-opt-outs") == [
        ("private", "disable", "disable", "api:alice", 1)
    ]


def test_an_index_from_the_older_mapping_gains_the_new_fields(osmem_clone, tmp_path):
    settings = make_settings(
        tmp_path, backend="opensearch", opensearch_url=osmem_clone.url, opensearch_index=ALIAS
    )
    old = load_mapping()
    flat = {"status_reason", "tag_kinds", "tag_counts", "tag_confidences"}
    for name in flat:
        del old["mappings"]["properties"][name]
    store = OpenSearchStore(settings)
    store.client.indices.create(index=f"{ALIAS}-v1", body=old)
    store.client.indices.put_alias(index=f"{ALIAS}-v1", name=ALIAS)
    written = Asset(path="a.jpg", media_type="image", smart_tags=TAGGED)
    store.upsert_many([written])  # strict mapping: refused, had the fields not been added
    held = store.client.indices.get_mapping(index=f"{ALIAS}-v1")
    assert flat <= set(held[f"{ALIAS}-v1"]["mappings"]["properties"])
    source = store.client.get(index=ALIAS, id=written.id)["_source"]
    assert source["tag_counts"] == {"object": 2, "action": 1, "custom": 0}
    store.close()
