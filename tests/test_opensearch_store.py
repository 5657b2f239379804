"""OpenSearchStore against osmem (the OpenSearch protocol, in memory): one clone per test."""

from __future__ import annotations

import json
import random
import socket
import time
from datetime import UTC, datetime

import pytest
from opensearchpy.connection import Urllib3HttpConnection
from opensearchpy.exceptions import TransportError

from catalog.asset import Asset, MediaType, TagKind
from catalog.opensearch_store import OpenSearchStore, make_client
from catalog.store import BackendUnavailable, StoreError
from catalog.stores import open_store
from query.plan import SearchRequest, build_plan
from query.ranking import explain, sort_key
from query.service import run_plan
from tests.backends import make_settings, unique_index


@pytest.fixture
def settings(osmem_clone, tmp_path):
    return make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url=osmem_clone.url,
        opensearch_index=unique_index(),
        opensearch_backoff_s=0.01,
    )


@pytest.fixture
def store(settings):
    opened = open_store(settings)
    yield opened
    opened.close()


def tag(name: str, kind: str = "object", confidence: float = 0.9) -> dict:
    return {"tag": name, "kind": kind, "confidence": confidence}


def asset(path: str, media: str = "image", **fields) -> Asset:
    return Asset.model_validate({"path": path, "media_type": media, **fields})


LIBRARY = [
    asset("beach/dog.jpg", title="Dog on the beach", smart_tags=[tag("dog", confidence=0.95)]),
    asset(
        "beach/run.mp4",
        "video",
        title="Morning",
        description="a dog running on sand",
        smart_tags=[tag("dog"), tag("running", "action", 0.8), tag("sand", confidence=0.69999)],
    ),
    asset(
        "beach/sunset.jpg", keywords=["sunset", "beach"], smart_tags=[tag("sky", confidence=0.7)]
    ),
    asset("beach-2020/dog.jpg", smart_tags=[tag("dog", confidence=0.71), tag("beach", "custom")]),
    asset("city/car.jpg", title="Red car", smart_tags=[tag("red car", confidence=0.83)]),
    asset(
        "city/night/cars.mp4",
        "video",
        manual_tags=["car"],
        promoted_tags=["night"],
        smart_tags=[tag("car", confidence=0.6), tag("driving", "action", 0.9)],
    ),
    asset(
        "city/street.jpg",
        description="Dogs and cars",
        removed_tags=["dog"],
        smart_tags=[tag("dog", confidence=0.99), tag("street", confidence=0.88)],
    ),
    asset("city/dog-walk.mp4", "video", smart_tags=[tag("walking dog", "action", 0.77)]),
    asset("park/dog.png", promoted_tags=["dog"], manual_tags=["park"]),
    asset(
        "park/cat.png", title="Cat", smart_tags=[tag("cat", confidence=0.5), tag("dog", "object")]
    ),
    asset("readme.jpg", file_name="readme.jpg", keywords=["dog", "car"]),
    asset(
        "z/deep/a/b/sky.jpg", smart_tags=[tag("sky", "custom", 0.7), tag("cloud", confidence=0.3)]
    ),
]

REQUESTS = [
    SearchRequest("dog"),
    SearchRequest("dogs running"),
    SearchRequest("dog beach"),
    SearchRequest("red car"),
    SearchRequest("car night"),
    SearchRequest("sky"),
    SearchRequest("sand"),
    SearchRequest("dog", folder="beach"),
    SearchRequest("dog", folder="city"),
    SearchRequest("dog", media_type=MediaType.video),
    SearchRequest("dog walking", kinds=(TagKind.action,)),
    SearchRequest("dog car", kinds=(TagKind.object, TagKind.custom)),
    SearchRequest("the dog and the cat"),
    SearchRequest("sky", folder="z/deep"),
]


def in_filters(item: Asset, request: SearchRequest) -> bool:
    folder = request.folder or ""
    if folder and item.folder != folder and not item.folder.startswith(folder + "/"):
        return False
    return request.media_type is None or item.media_type == request.media_type


@pytest.mark.parametrize("overrides", [{}, {"min_object_confidence": 0.5, "promote_boost": 3.0}])
def test_scores_and_order_equal_the_ranking_contract(settings, overrides):
    settings = settings.model_copy(update=overrides)
    store = OpenSearchStore(settings)
    store.upsert_many(LIBRARY)
    for request in REQUESTS:
        assert_contract_order(store, settings, LIBRARY, request)
    store.close()


def assert_contract_order(store, settings, library: list[Asset], request: SearchRequest) -> None:
    plan = build_plan(request, settings)
    expected = sorted(
        (sort_key(a.id, m), a.id, m.score)
        for a in library
        if in_filters(a, request)
        for m in [explain(a, plan, settings.weight_quantum)]
        if m.tier is not None
    )
    page = run_plan(store, plan)
    assert [(h.asset.id, h.score) for h in page.hits] == [(i, s) for _, i, s in expected], request
    assert page.total.value == len(expected)


WORDS = ["dog", "cat", "car", "red", "beach", "sky", "run", "night", "street", "park"]
CONFIDENCES = [0.0, 0.001, 0.3, 0.69999, 0.7, 0.70001, 0.75, 0.9, 1.0]


def random_asset(rng: random.Random, number: int) -> Asset:
    folder = rng.choice(["", "a", "a/b", "a/b-2020", "c/d"])
    tags = [
        tag(" ".join(rng.sample(WORDS, rng.randint(1, 2))), rng.choice(list(TagKind)), conf)
        for conf in rng.choices([*CONFIDENCES, rng.random()], k=rng.randint(0, 4))
    ]
    names = [t["tag"] for t in tags] + rng.sample(WORDS, 2)
    return asset(
        f"{folder}/f{number}.jpg".lstrip("/"),
        rng.choice(["image", "video"]),
        title=" ".join(rng.sample(WORDS, rng.randint(0, 2))),
        description=" ".join(rng.sample(WORDS, rng.randint(0, 2))),
        keywords=rng.sample(WORDS, rng.randint(0, 1)),
        smart_tags=tags,
        manual_tags=rng.sample(names, rng.randint(0, 1)),
        promoted_tags=rng.sample(names, rng.randint(0, 1)),
        removed_tags=rng.sample(names, rng.randint(0, 1)),
    )


def random_request(rng: random.Random) -> SearchRequest:
    return SearchRequest(
        " ".join(rng.sample(WORDS, rng.randint(1, 3))),
        folder=rng.choice([None, "a", "a/b"]),
        media_type=rng.choice([None, MediaType.video]),
        kinds=tuple(rng.sample(list(TagKind), rng.randint(0, 2))),
        limit=200,
    )


# A zero threshold lets weight-0 machine tags (confidence < 1/512) through: they never match.
@pytest.mark.parametrize("overrides", [{}, {"min_object_confidence": 0.0, "promote_boost": 1.5}])
def test_random_libraries_rank_as_the_contract_says(settings, overrides):
    settings = settings.model_copy(update=overrides)
    store = OpenSearchStore(settings)
    rng = random.Random(7)
    library = [random_asset(rng, n) for n in range(120)]
    store.upsert_many(library)
    for _ in range(30):
        assert_contract_order(store, settings, library, random_request(rng))
    store.close()


def test_paging_uses_offset_limit_and_total(store, settings):
    store.upsert_many(LIBRARY)
    everything = run_plan(store, build_plan(SearchRequest("dog", limit=50), settings))
    page = run_plan(store, build_plan(SearchRequest("dog", limit=2, offset=1), settings))
    assert page.total == everything.total
    assert [h.asset.id for h in page.hits] == [h.asset.id for h in everything.hits[1:3]]


def test_browse_is_newest_first_then_id(store, settings):
    old = datetime(2020, 1, 1, tzinfo=UTC)
    items = [
        asset("b.jpg", created_at=old),
        asset("a.jpg", created_at=old),
        asset("c/x.mp4", "video", created_at=datetime(2024, 1, 1, tzinfo=UTC)),
    ]
    store.upsert_many(items)
    page = run_plan(store, build_plan(SearchRequest(), settings))
    assert [h.asset.id for h in page.hits] == [items[2].id, *sorted(a.id for a in items[:2])]
    assert all(h.score == 0.0 for h in page.hits)
    videos = run_plan(store, build_plan(SearchRequest(media_type=MediaType.video), settings))
    assert (videos.total.value, videos.hits[0].asset.path) == (1, "c/x.mp4")


def test_stop_words_only_match_nothing(store, settings):
    store.upsert_many(LIBRARY)
    assert run_plan(store, build_plan(SearchRequest("the and"), settings)).total.value == 0


def test_first_use_creates_versioned_index_behind_alias(store, settings):
    assert store.current_indices() == []
    assert store.count() == 0
    assert store.current_indices() == [f"{settings.opensearch_index}-v1"]
    mapping = store.client.indices.get_mapping(index=settings.opensearch_index)
    fields = mapping[f"{settings.opensearch_index}-v1"]["mappings"]["properties"]
    assert fields["tags"]["type"] == "nested"
    assert fields["doc"]["enabled"] is False


def test_swap_alias_moves_reads_to_the_new_index(store, settings):
    store.upsert_many(LIBRARY[:2])
    new = store.create_index(2)
    assert store.swap_alias(new) == [f"{settings.opensearch_index}-v1"]
    assert store.current_indices() == [new]
    assert store.count() == 0


def test_alias_name_taken_by_a_plain_index_is_reported(store, settings):
    store.client.indices.create(index=settings.opensearch_index)
    with pytest.raises(StoreError, match="is an index, not an alias"):
        store.count()


def test_upsert_get_delete_roundtrip(store):
    item = LIBRARY[1]
    assert store.upsert_many([item]) == 1
    assert store.get(item.id).model_dump(exclude={"updated_at"}) == item.model_dump(
        exclude={"updated_at"}
    )
    assert store.get("missing") is None
    assert store.delete(item.id) is True
    assert store.delete(item.id) is False
    assert store.get(item.id) is None
    assert store.count() == 0


def test_upsert_keeps_created_at_and_stamps_updated_at(store):
    first = asset("a.jpg", title="one", created_at=datetime(2020, 1, 1, tzinfo=UTC))
    store.upsert_many([first])
    again = asset("a.jpg", title="two", updated_at=datetime(2021, 1, 1, tzinfo=UTC))
    store.upsert_many([again])
    stored = store.get(first.id)
    assert (stored.title, stored.created_at) == ("two", first.created_at)
    assert stored.updated_at == datetime(2021, 1, 1, tzinfo=UTC)
    store.upsert_many([asset("a.jpg", title="three")])
    assert store.get(first.id).updated_at > datetime(2021, 1, 1, tzinfo=UTC)
    explicit = datetime(2019, 5, 5, tzinfo=UTC)
    store.upsert_many([asset("a.jpg", created_at=explicit)])
    assert store.get(first.id).created_at == explicit


def test_duplicates_in_one_batch_keep_the_first_creation_time(store):
    first = asset("a.jpg", created_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert store.upsert_many([first, asset("a.jpg", title="later")]) == 2
    stored = store.get(first.id)
    assert (stored.title, stored.created_at, store.count()) == ("later", first.created_at, 1)


def test_writes_are_searchable_at_once(store, settings):
    plan = build_plan(SearchRequest("dog"), settings)
    store.upsert_many([LIBRARY[0]])
    assert run_plan(store, plan).total.value == 1
    store.delete(LIBRARY[0].id)
    assert run_plan(store, plan).total.value == 0


def test_iter_assets_pages_in_id_order_and_filters_folders(store, monkeypatch):
    monkeypatch.setattr("catalog.opensearch_store.SCAN_PAGE", 5)
    store.upsert_many(LIBRARY)
    assert [a.id for a in store.iter_assets()] == sorted(a.id for a in LIBRARY)
    beach = [a.path for a in store.iter_assets("beach")]
    assert sorted(beach) == ["beach/dog.jpg", "beach/run.mp4", "beach/sunset.jpg"]
    assert [a.path for a in store.iter_assets("z/deep")] == ["z/deep/a/b/sky.jpg"]


def test_bulk_chunks_and_stats(settings):
    store = OpenSearchStore(settings.model_copy(update={"opensearch_bulk_chunk": 5}))
    assert store.upsert_many(LIBRARY) == len(LIBRARY)
    stats = store.stats()
    assert (stats.backend, stats.assets) == ("opensearch", len(LIBRARY))
    assert stats.by_media_type == {"image": 9, "video": 3}
    assert stats.by_status == {"catalogued": len(LIBRARY)}
    machine = {t.tag for a in LIBRARY for t in a.smart_tags if t.tag not in a.removed_tags}
    assert stats.smart_tags == len(machine)
    assert stats.folders == len({a.folder for a in LIBRARY})
    assert settings.opensearch_index in stats.location


def test_check_names_version_health_and_alias(store, settings):
    store.count()
    report = store.check()
    assert report.startswith("OpenSearch ")
    assert f"{settings.opensearch_index} -> {settings.opensearch_index}-v1" in report


# the network edge: a connection that fails as an overloaded cluster would


def flaky_connection(failures: list[str]):
    """A connection whose next requests fail as listed: 'http:<status>' or 'items:<status>'."""

    class Flaky(Urllib3HttpConnection):
        def perform_request(self, method, url, params=None, body=None, **kwargs):
            if failures and (url.endswith("/_bulk") or failures[0].startswith("http")):
                how, status = failures.pop(0).split(":")
                if how == "http":
                    raise TransportError(int(status), "injected", {"error": "injected"})
                return 200, {}, bulk_rejection(body, int(status))
            return super().perform_request(method, url, params, body, **kwargs)

    return Flaky


def bulk_rejection(body: bytes, status: int) -> str:
    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    actions = [(op, line[op]["_id"]) for line in lines for op in ("index", "update") if op in line]
    error = {"type": "es_rejected_execution_exception", "reason": "queue full"}
    items = [{op: {"_id": i, "status": status, "error": error}} for op, i in actions]
    return json.dumps({"took": 1, "errors": True, "items": items})


def flaky_store(settings, failures: list[str]):
    sleeps: list[float] = []
    client = make_client(settings, connection_class=flaky_connection(failures))
    return OpenSearchStore(settings, client=client, sleep=sleeps.append), sleeps


def test_whole_request_503_and_429_are_retried_with_backoff(settings):
    failures = ["http:503", "http:429", "http:502"]
    store, sleeps = flaky_store(settings, failures)
    assert store.upsert_many(LIBRARY[:3]) == 3
    assert (failures, sleeps) == ([], [0.01, 0.02, 0.04])
    assert store.count() == 3


def test_rejected_bulk_items_are_retried(settings):
    failures = ["items:429", "items:503"]
    store, sleeps = flaky_store(settings, failures)
    assert store.upsert_many(LIBRARY[:3]) == 3
    assert (failures, sleeps) == ([], [0.01, 0.02])
    assert store.count() == 3


def test_persistent_overload_ends_in_backend_unavailable(settings):
    limited = settings.model_copy(update={"opensearch_max_retries": 2})
    store, sleeps = flaky_store(limited, ["items:429"] * 10)
    with pytest.raises(BackendUnavailable, match="kept answering 429"):
        store.upsert_many(LIBRARY[:1])
    assert sleeps == [0.01, 0.02]


def test_client_errors_are_not_retried(settings):
    store, sleeps = flaky_store(settings, ["http:400"])
    with pytest.raises(StoreError, match="400") as raised:
        store.count()
    assert not isinstance(raised.value, BackendUnavailable)
    assert sleeps == []


def test_unreachable_cluster_is_reported_quickly_with_the_fix(tmp_path):
    settings = make_settings(tmp_path, backend="opensearch", opensearch_url="http://127.0.0.1:9")
    store = open_store(settings)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        run_plan(store, build_plan(SearchRequest("dog"), settings))
    assert time.monotonic() - started < 2
    message = str(raised.value)
    assert "http://127.0.0.1:9" in message
    assert "SMARTTAGS_OPENSEARCH_URL" in message
    assert "docker compose -f docker/compose.yaml up -d" in message
    assert "Traceback" not in message


def test_a_silent_cluster_times_out_as_unavailable(tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = make_settings(
            tmp_path, backend="opensearch", opensearch_url=url, opensearch_timeout_s=0.2
        )
        with pytest.raises(BackendUnavailable, match=r"no answer within 0\.2 s"):
            OpenSearchStore(settings).check()


def test_password_never_appears_in_messages(tmp_path):
    url = "http://admin:s3cret@127.0.0.1:9"
    settings = make_settings(tmp_path, backend="opensearch", opensearch_url=url)
    with pytest.raises(BackendUnavailable) as raised:
        OpenSearchStore(settings).count()
    assert "s3cret" not in str(raised.value)
    assert "admin:***@127.0.0.1:9" in str(raised.value)
