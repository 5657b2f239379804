"""The routes the web UI needs beyond the rest of the API: who am I, editing metadata (audited),
the original media with Range requests, the folder tree, report downloads, and the UI's own
files (public, offline, every module they import present)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from catalog.audit import ModerationAction, TagState
from catalog.curation import moderate, undo_last
from catalog.keys import Role
from catalog.training_runs import TagReport, TrainingRecord, claim_run, save_record
from query.api import create_app
from query.curation_service import folder_tree, set_folder
from query.routes_webui import WEBUI_DIR
from tests.access import make_world
from tests.backends import make_settings
from tests.fixtures import asset, tag

MEDIA = bytes(range(256)) * 4  # 1 KiB: what /media serves, byte for byte


@pytest.fixture
def world(tmp_path):
    return make_world(tmp_path)


@pytest.fixture
def client(world):
    with TestClient(create_app(world.settings, world.store)) as c:
        yield c


@pytest.fixture
def open_client(tmp_path):
    """No key stored: everyone may do everything."""
    settings = make_settings(tmp_path, library_root=tmp_path / "library")
    with TestClient(create_app(settings)) as c:
        yield c


def _editor(world):
    return world.headers(Role.editor)


# --- GET /auth/me ------------------------------------------------------------------------


def test_me_names_the_key_and_its_role(client, world):
    for role in Role:
        me = client.get("/auth/me", headers=world.headers(role)).json()
        assert me == {"name": f"test-{role.value}", "role": role.value, "anonymous": False}
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/me", headers={"X-API-Key": "st_nope"}).status_code == 401


def test_me_without_keys_is_an_anonymous_admin(open_client):
    assert open_client.get("/auth/me").json() == {"name": None, "role": "admin", "anonymous": True}


# --- PATCH /assets/{id} ------------------------------------------------------------------


def test_an_edit_changes_the_fields_given_and_search_finds_the_new_words(client, world):
    headers = _editor(world)
    body = {"title": "Sprinter at dawn", "keywords": [" track ", "dawn", "track", ""]}
    edited = client.patch("/assets/a1", json=body, headers=headers)
    assert edited.status_code == 200, edited.text
    found = edited.json()
    assert found["title"] == "Sprinter at dawn"
    assert found["keywords"] == ["track", "dawn"]
    assert found["description"] == ""  # not given: unchanged
    assert found["tags"] and found["id"] == "a1"
    hits = client.get("/search", params={"q": "sprinter"}, headers=headers).json()["hits"]
    assert [(h["id"], h["tier"]) for h in hits] == [("a1", 1)]
    assert client.get("/search", params={"q": "woman"}, headers=headers).json()["hits"] == []


def test_each_changed_field_is_audited_with_its_text_before_and_after(client, world):
    headers = _editor(world)
    client.patch("/assets/a1", json={"title": "Sprinter", "description": ""}, headers=headers)
    entries = client.get("/assets/a1/audit", headers=headers).json()["entries"]
    # the description was empty already: only the title changed
    assert [(e["action"], e["tag"], e["before"], e["after"], e["actor"]) for e in entries] == [
        ("edit", "title", "Woman running", "Sprinter", "key:test-editor")
    ]
    again = client.patch("/assets/a1", json={"title": "Sprinter"}, headers=headers)
    assert again.status_code == 200
    assert len(client.get("/assets/a1/audit", headers=headers).json()["entries"]) == 1


def test_long_values_are_cut_in_the_audit_log_not_in_the_asset(client, world):
    headers = _editor(world)
    text = "word " * 200
    done = client.patch("/assets/a1", json={"description": text}, headers=headers).json()
    assert done["description"] == text.strip()
    (entry,) = client.get("/assets/a1/audit", headers=headers).json()["entries"]
    limit = world.settings.audit_value_chars
    assert len(entry["after"]) == limit and entry["after"].endswith("…")


def test_undo_reverts_tag_moderations_never_metadata_edits(world):
    store, settings = world.store, world.settings
    moderate(store, "a1", ModerationAction.promote, "beach", "key:x", settings.write_retries)
    from catalog.curation import edit_metadata

    edit_metadata(store, "a1", {"title": "Later"}, "key:x", 3, settings.audit_value_chars)
    undone = undo_last(store, "a1", "key:x", settings.write_retries)
    assert undone.entry.tag == "beach" and undone.entry.after is TagState.none
    assert store.get("a1").title == "Later"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "nothing to change"),
        ({"title": None}, "not null"),
        ({"title": "two\nlines"}, "control characters"),
        ({"keywords": ["tab\there"]}, "control characters"),
        ({"description": "nul \x00"}, "control characters"),
        ({"title": "x" * 501}, "at most 500"),
        ({"keywords": ["k"] * 201}, "at most 200"),
        ({"path": "elsewhere.jpg"}, "extra"),
        ({"keywords": "not a list"}, "list"),
    ],
)
def test_bad_edits_are_422_and_change_nothing(client, world, body, words):
    response = client.patch("/assets/a1", json=body, headers=_editor(world))
    assert response.status_code == 422, response.text
    assert words in response.text.lower()
    assert world.store.get("a1").title == "Woman running"


def test_a_description_keeps_its_line_breaks(client, world):
    text = "First line.\nSecond line,\tafter a tab."
    done = client.patch("/assets/a1", json={"description": text}, headers=_editor(world))
    assert done.json()["description"] == text


def test_configured_bounds_apply(tmp_path):
    world = make_world(tmp_path, max_title_chars=5, max_keywords=1)
    with TestClient(create_app(world.settings, world.store)) as c:
        headers = _editor(world)
        assert c.patch("/assets/a1", json={"title": "123456"}, headers=headers).status_code == 422
        assert (
            c.patch("/assets/a1", json={"keywords": ["a", "b"]}, headers=headers).status_code == 422
        )
        assert c.patch("/assets/a1", json={"title": "12345"}, headers=headers).status_code == 200


def test_editing_needs_the_editor_role_and_a_known_asset(client, world):
    reader = world.headers(Role.reader)
    assert client.patch("/assets/a1", json={"title": "x"}, headers=reader).status_code == 403
    missing = client.patch("/assets/nope", json={"title": "x"}, headers=_editor(world))
    assert missing.status_code == 404


def test_reprocessing_keeps_edited_metadata(world):
    from catalog.curation import edit_metadata, save_processed

    settings = world.settings
    edit_metadata(world.store, "a1", {"keywords": ["kept"]}, "key:x", 3, settings.audit_value_chars)
    processed = asset("a1", path="campaigns/summer/beach.mp4", smart_tags=[tag("sand", 0.9)])
    saved = save_processed(world.store, processed, settings.write_retries)
    assert saved.keywords == ["kept"] and saved.title == "Woman running"


# --- GET /assets/{id}/media --------------------------------------------------------------


@pytest.fixture
def media_client(world):
    path = world.settings.library_dir / "campaigns/summer/beach.mp4"
    path.write_bytes(MEDIA)
    with TestClient(create_app(world.settings, world.store)) as c:
        c.headers.update(world.headers(Role.reader))
        yield c


def test_media_is_the_file_itself(media_client):
    response = media_client.get("/assets/a1/media")
    assert response.status_code == 200
    assert response.content == MEDIA
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"].startswith("inline")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 100), ("bytes=1000-", 1000, 1024), ("bytes=-24", 1000, 1024)],
)
def test_media_answers_byte_ranges(media_client, header, start, end):
    response = media_client.get("/assets/a1/media", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == MEDIA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(MEDIA)}"


def test_media_refuses_ranges_it_cannot_serve_with_the_error_body(media_client):
    outside = media_client.get("/assets/a1/media", headers={"Range": "bytes=5000-6000"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(MEDIA)}"
    assert "1024 bytes" in outside.json()["detail"]
    malformed = media_client.get("/assets/a1/media", headers={"Range": "pages=1-2"})
    assert malformed.status_code == 400 and malformed.json()["detail"].startswith("Range")


def test_media_never_leaves_the_library(media_client, world, tmp_path):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not yours")
    link = world.settings.library_dir / "campaigns/link.mp4"
    link.symlink_to(secret)
    world.store.upsert_many([asset("ln", path="campaigns/link.mp4")])
    response = media_client.get("/assets/ln/media")
    assert response.status_code == 404 and "not in the library" in response.json()["detail"]
    world.store.upsert_many([asset("gone", path="campaigns/gone.mp4")])
    assert media_client.get("/assets/gone/media").status_code == 404
    assert media_client.get("/assets/unknown/media").status_code == 404


def test_media_follows_the_library_root_the_asset_was_indexed_from(media_client, world, tmp_path):
    elsewhere = tmp_path / "shoot"
    elsewhere.mkdir()
    (elsewhere / "take.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    world.store.upsert_many([asset("ext", path="take.jpg", library_root=str(elsewhere))])
    response = media_client.get("/assets/ext/media")
    assert response.status_code == 200 and response.content.startswith(b"\xff\xd8")
    assert response.headers["content-type"] == "image/jpeg"


# --- GET /folders/tree -------------------------------------------------------------------


def test_the_tree_lists_folders_with_counts_parents_and_settings(make_store):
    store = make_store()
    settings = store.settings
    store.upsert_many(
        [
            asset("r1", path="root.jpg"),
            asset("b1", path="a/b/one.jpg"),
            asset("b2", path="a/b/two.jpg"),
            asset("c1", path="a-2/c.jpg"),
        ]
    )
    set_folder(store, settings, "a", None, _toggle("disable"), "key:t")
    set_folder(store, settings, "empty/setting", _toggle("enable"), None, "key:t")
    tree = folder_tree(store, settings)
    rows = {f["folder"]: f for f in tree["folders"]}
    # parents before children: a, a/b, a-2 (not a, a-2, a/b)
    assert [f["folder"] for f in tree["folders"]] == [
        "",
        "a",
        "a/b",
        "a-2",
        "empty",
        "empty/setting",
    ]
    assert (rows[""]["assets"], rows[""]["total"]) == (1, 4)
    assert (rows["a"]["assets"], rows["a"]["total"]) == (0, 2)
    assert (rows["a/b"]["assets"], rows["a/b"]["total"]) == (2, 2)
    assert rows["a/b"]["image"] == {
        "setting": "inherit",
        "effective": "disable",
        "inherited_from": "a",
    }
    assert rows["a/b"]["video"] == {
        "setting": "inherit",
        "effective": "enable",
        "inherited_from": None,
    }
    assert rows["empty/setting"]["video"]["setting"] == "enable"
    assert tree["truncated"] is False


def test_the_tree_is_bounded(tmp_path):
    world = make_world(tmp_path, max_tree_folders=2)
    world.store.upsert_many([asset(f"x{i}", path=f"f{i}/x.jpg") for i in range(4)])
    tree = folder_tree(world.store, world.settings)
    assert tree["truncated"] is True
    shown = ["", "campaigns", "campaigns/summer", "campaigns/winter"]  # the first two, by name
    assert [f["folder"] for f in tree["folders"]] == shown


def _toggle(value):
    from catalog.folders import Toggle

    return Toggle(value)


# --- GET /training/report?format= --------------------------------------------------------


@pytest.fixture
def report_client(world):
    run, _ = claim_run(world.settings)
    rows = [
        TagReport("hero", 40, 300, 1, 0.9, 0.8, 0.85, 0.6, 0.7, "trained"),
        TagReport("lifestyle", 3, 300, 0, None, None, None, None, None, "not trained"),
    ]
    save_record(
        world.settings,
        TrainingRecord(run=run, started="2026-01-02T00:00:00+00:00", state="done", tags=rows),
    )
    with TestClient(create_app(world.settings, world.store)) as c:
        c.headers.update(world.headers(Role.reader))
        yield c, run


def test_the_report_downloads_as_csv(report_client):
    client, run = report_client
    response = client.get("/training/report", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="training-{run}.csv"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("tag,positives,negatives") and lines[1].startswith("hero,40,300")
    assert lines[2] == "lifestyle,3,300,0,,,,,,not trained"


def test_the_report_downloads_as_an_excel_workbook(report_client):
    client, run = report_client
    response = client.get("/training/report", params={"format": "xlsx"})
    assert response.status_code == 200
    assert f'filename="training-{run}.xlsx"' in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    rows = list(book["tags"].iter_rows(values_only=True))
    assert rows[0][:3] == ("tag", "positives", "negatives") and rows[1][:2] == ("hero", 40)
    assert client.get("/training/report").json()["run"] == run  # json stays the default
    assert client.get("/training/report", params={"format": "pdf"}).status_code == 422


# --- the UI's own files ------------------------------------------------------------------

IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?from\s+["']([^"']+)["']""", re.MULTILINE)
URL = re.compile(r"(?:https?:)?//[\w-]+(?:\.[\w-]+)+")
NAMESPACES = {"http://www.w3.org"}  # the SVG namespace's host: a name, never fetched


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def test_the_page_is_public_strict_and_loads_only_this_server(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    parser = _Links()
    parser.feed(page.text)
    files = [link for link in parser.links if not link.startswith("#")]  # routes of the page
    assert files and all(link.startswith("/") for link in files)
    for link in files:
        assert client.get(link).status_code == 200, link


def test_every_module_the_ui_imports_is_served(client):
    """Walk the ES module graph from main.js: each import resolves to a file the server
    serves, and no file names another host."""
    pending, seen = ["/ui/js/main.js"], set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        assert "javascript" in response.headers["content-type"], url
        base = url.rsplit("/", 1)[0]
        for target in IMPORT.findall(response.text):
            assert target.startswith("."), f"{url} imports {target}: only relative modules"
            pending.append(_resolve(base, target))
    on_disk = {f"/ui/{p.relative_to(WEBUI_DIR)}" for p in WEBUI_DIR.rglob("*.js")}
    assert seen == on_disk, "a module is never imported, or missing"
    for path in WEBUI_DIR.rglob("*"):
        if path.is_file():
            hosts = [u for u in URL.findall(path.read_text()) if u not in NAMESPACES]
            assert hosts == [], f"{path.name} names another host: {hosts}"


def _resolve(base: str, target: str) -> str:
    parts = base.split("/")
    for piece in target.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def test_the_ui_files_need_no_key_but_the_api_does(client):
    assert client.get("/").status_code == 200
    assert client.get("/ui/app.css").status_code == 200
    assert client.get("/auth/me").status_code == 401
    assert client.get("/ui/nothing.js").status_code == 404
