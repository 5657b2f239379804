"""The scale-out store: OpenSearch through opensearch-py, a versioned index behind an alias.

The alias (`settings.opensearch_index`) is what every read and write names; the index behind it
is `<alias>-v<N>`, created from mappings/assets.json on first use. A reindex creates the next
version, fills it, and swaps the alias (`create_index`, `swap_alias`).
"""

from __future__ import annotations

import json
import re
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as NetworkError
from opensearchpy.exceptions import ConnectionTimeout, SSLError, TransportError

from catalog.asset import Asset, utc_now
from catalog.effective import indexed_tags, meta_tokens
from catalog.settings import Settings
from catalog.store import BackendUnavailable, RankedHit, RankedPage, StoreError, StoreStats
from query.dsl import compile_plan, terms_field
from query.plan import QueryPlan

MAPPING_FILE = Path(__file__).resolve().parents[1] / "mappings" / "assets.json"
MIN_VERSION = (2, 19)
SCAN_PAGE = 500
MAX_BACKOFF_S = 30.0
# Cardinality counts are exact below this many distinct values (the aggregation's maximum).
EXACT_CARDINALITY = 40_000

T = TypeVar("T")


def _iso(value: datetime) -> str:
    # Second precision, as the SQLite store keeps it: browse order and kept times agree.
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def redact(url: str) -> str:
    """The URL without a password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def load_mapping() -> dict[str, Any]:
    try:
        return json.loads(MAPPING_FILE.read_text())
    except OSError as exc:
        raise StoreError(f"cannot read the index mapping {MAPPING_FILE}: {exc.strerror}") from None


def make_client(settings: Settings, **kwargs: Any) -> OpenSearch:
    """A client that fails fast: retries are the store's, with backoff."""
    options: dict[str, Any] = {
        "hosts": [settings.opensearch_url],
        "timeout": settings.opensearch_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
        "verify_certs": settings.opensearch_verify_certs,
        "ssl_show_warn": settings.opensearch_verify_certs,
    }
    options.update(kwargs)
    return OpenSearch(**options)


def index_document(asset: Asset, quantum: int) -> dict[str, Any]:
    """The indexed form of an asset: query fields (see query/dsl.py) plus the asset as `doc`."""
    tags = indexed_tags(asset, quantum)
    return {
        "id": asset.id,
        "path": asset.path,
        "folder": asset.folder,
        "media_type": asset.media_type.value,
        "status": asset.status.value,
        "created_at": _iso(asset.created_at),
        "updated_at": _iso(asset.updated_at),
        **{terms_field(f): tokens for f, tokens in meta_tokens(asset).items()},
        "tag_names": list(dict.fromkeys(t.tag for t in tags)),
        "tags": [
            {
                "tag": t.tag,
                "kind": t.kind,
                "source": t.source.value,
                "confidence": t.confidence,
                "weight": t.weight,
                "tokens": list(t.tokens),
            }
            for t in tags
        ],
        "doc": asset.to_json_dict(),
    }


def keep_times(asset: Asset, created_at: str | None) -> Asset:
    """An upsert without explicit times keeps the creation time and stamps the update."""
    update: dict[str, Any] = {}
    if created_at and "created_at" not in asset.model_fields_set:
        update["created_at"] = datetime.fromisoformat(created_at)
    if "updated_at" not in asset.model_fields_set:
        update["updated_at"] = utc_now()
    return asset.model_copy(update=update) if update else asset


def _retryable(status: Any) -> bool:
    return isinstance(status, int) and (status == 429 or status >= 500)


def _error_reason(info: Any) -> str:
    if isinstance(info, dict):
        error = info.get("error", info)
        if isinstance(error, dict):
            cause = (error.get("root_cause") or [error])[0]
            return f"{cause.get('type', 'error')}: {cause.get('reason', '')}".strip()
        return str(error)
    return str(info)


def _network_reason(exc: NetworkError) -> str:
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc.info))
    return found.group(1).strip() if found else type(exc.info).__name__


def _float32(value: float) -> float:
    """Lucene scores are float32, written as the shortest decimal that names them (32.94922
    for 32.94921875): back to that exact float32, so scores equal the contract's sums."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _asset(hit: dict[str, Any]) -> Asset:
    return Asset.model_validate(hit["_source"]["doc"])


class OpenSearchStore:
    name = "opensearch"

    def __init__(
        self,
        settings: Settings,
        client: OpenSearch | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.opensearch_url:
            raise BackendUnavailable(
                "the OpenSearch backend needs a URL: set SMARTTAGS_OPENSEARCH_URL "
                "(e.g. http://localhost:9200)"
            )
        self.settings = settings
        self.url = redact(settings.opensearch_url)
        self.alias = settings.opensearch_index
        self.client = client or make_client(settings)
        self._sleep = sleep
        self._ready = False
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    # every request goes through _call: backoff on 429/5xx, user-facing errors otherwise
    def _call(self, request: Callable[..., T], /, **kwargs: Any) -> T:
        retries = self.settings.opensearch_max_retries
        attempt = 0
        while True:
            try:
                return request(**kwargs)
            except NetworkError as exc:
                raise BackendUnavailable(self._unreachable(exc)) from None
            except TransportError as exc:
                if not _retryable(exc.status_code):
                    raise self._failed(exc) from None
                if attempt == retries:
                    raise self._overloaded(exc.status_code, retries) from None
            self._backoff(attempt)
            attempt += 1

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(self.settings.opensearch_backoff_s * 2**attempt, MAX_BACKOFF_S))

    def _unreachable(self, exc: NetworkError) -> str:
        if isinstance(exc, ConnectionTimeout):
            reason = f"no answer within {self.settings.opensearch_timeout_s:g} s"
        elif isinstance(exc, SSLError):
            reason = (
                f"TLS failed ({_network_reason(exc)}); for a dev cluster with a self-signed "
                "certificate set SMARTTAGS_OPENSEARCH_VERIFY_CERTS=false"
            )
        else:
            reason = _network_reason(exc)
        return (
            f"cannot reach OpenSearch at {self.url}: {reason}. Check SMARTTAGS_OPENSEARCH_URL, "
            "start the cluster (locally: docker compose -f docker/compose.yaml up -d), or unset "
            "SMARTTAGS_OPENSEARCH_URL to use the embedded SQLite store"
        )

    def _overloaded(self, status: Any, retries: int) -> BackendUnavailable:
        return BackendUnavailable(
            f"OpenSearch at {self.url} kept answering {status} (overloaded or unavailable) "
            f"after {retries} retries; check the cluster's health, or raise "
            "SMARTTAGS_OPENSEARCH_MAX_RETRIES / SMARTTAGS_OPENSEARCH_BACKOFF_S"
        )

    def _failed(self, exc: TransportError) -> StoreError:
        if exc.status_code in (401, 403):
            return StoreError(
                f"OpenSearch at {self.url} refused the request ({exc.status_code}): put "
                "credentials in SMARTTAGS_OPENSEARCH_URL (https://user:password@host:9200)"
            )
        return StoreError(
            f"OpenSearch at {self.url} failed the request ({exc.status_code} "
            f"{_error_reason(exc.info)})"
        )

    # the versioned index behind the alias
    def index_name(self, version: int) -> str:
        return f"{self.alias}-v{version}"

    def current_indices(self) -> list[str]:
        """The indices the alias points at (none before first use)."""
        found = self._call(self.client.indices.get_alias, name=self.alias, ignore=404)
        return sorted(k for k in found if isinstance(found[k], dict) and "aliases" in found[k])

    def create_index(self, version: int, exist_ok: bool = False) -> str:
        body = load_mapping()
        body["settings"]["index"]["max_result_window"] = self.settings.max_result_window
        name = self.index_name(version)
        # exist_ok: another process may create the first index at the same moment.
        ignore = {"ignore": 400} if exist_ok else {}
        response = self._call(self.client.indices.create, index=name, body=body, **ignore)
        reason = _error_reason(response) if "error" in response else ""
        if reason and not reason.startswith("resource_already_exists_exception"):
            raise StoreError(f"cannot create the index {name} on {self.url}: {reason}")
        return name

    def swap_alias(self, index: str) -> list[str]:
        """Point the alias at `index` in one atomic step; returns the indices it left."""
        old = [name for name in self.current_indices() if name != index]
        actions = [{"remove": {"index": name, "alias": self.alias}} for name in old]
        actions.append({"add": {"index": index, "alias": self.alias}})
        self._call(self.client.indices.update_aliases, body={"actions": actions})
        return old

    def _ensure_index(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if not self._call(self.client.indices.exists_alias, name=self.alias):
                if self._call(self.client.indices.exists, index=self.alias):
                    raise StoreError(
                        f"{self.alias} on {self.url} is an index, not an alias: choose another "
                        "SMARTTAGS_OPENSEARCH_INDEX, or reindex it into a versioned index"
                    )
                self.swap_alias(self.create_index(1, exist_ok=True))
            self._ready = True

    # writes
    def upsert_many(self, assets: Iterable[Asset]) -> int:
        self._ensure_index()
        written = 0
        chunk: list[Asset] = []
        for asset in assets:
            chunk.append(asset)
            if len(chunk) >= self.settings.opensearch_bulk_chunk:
                written += self._write_chunk(chunk)
                chunk = []
        if chunk:
            written += self._write_chunk(chunk)
        # A search right after an import must see it.
        self._call(self.client.indices.refresh, index=self.alias)
        return written

    def _write_chunk(self, chunk: list[Asset]) -> int:
        created = self._created_at([a.id for a in chunk])
        docs: list[tuple[str, dict[str, Any]]] = []
        for asset in chunk:
            asset = keep_times(asset, created.get(asset.id))
            # A later duplicate in the same chunk keeps this one's creation time.
            created[asset.id] = _iso(asset.created_at)
            docs.append((asset.id, index_document(asset, self.settings.weight_quantum)))
        self._bulk(docs)
        return len(chunk)

    def _created_at(self, ids: list[str]) -> dict[str, str]:
        found = self._call(
            self.client.mget,
            index=self.alias,
            body={"ids": list(dict.fromkeys(ids))},
            _source_includes=["created_at"],
        )
        return {d["_id"]: d["_source"]["created_at"] for d in found["docs"] if d.get("found")}

    def _bulk(self, docs: list[tuple[str, dict[str, Any]]]) -> None:
        """Index `docs`, retrying the items the cluster rejected for load (429/5xx)."""
        retries = self.settings.opensearch_max_retries
        pending = docs
        for attempt in range(retries + 1):
            body: list[dict[str, Any]] = []
            for doc_id, doc in pending:
                body += [{"index": {"_index": self.alias, "_id": doc_id}}, doc]
            response = self._call(self.client.bulk, body=body)
            pending = self._rejected(response, pending) if response.get("errors") else []
            if not pending:
                return
            if attempt < retries:
                self._backoff(attempt)
        raise self._overloaded(429, retries)

    def _rejected(
        self, response: dict[str, Any], sent: list[tuple[str, dict[str, Any]]]
    ) -> list[tuple[str, dict[str, Any]]]:
        again = []
        for item, doc in zip(response["items"], sent, strict=True):
            result = next(iter(item.values()))
            status = result.get("status", 200)
            if status < 300:
                continue
            if not _retryable(status):
                raise StoreError(
                    f"OpenSearch at {self.url} refused asset {doc[0]} ({status} "
                    f"{_error_reason(result.get('error'))})"
                )
            again.append(doc)
        return again

    def delete(self, asset_id: str) -> bool:
        self._ensure_index()
        result = self._call(
            self.client.delete, index=self.alias, id=asset_id, refresh=True, ignore=404
        )
        return result.get("result") == "deleted"

    # reads
    def get(self, asset_id: str) -> Asset | None:
        self._ensure_index()
        found = self._call(
            self.client.mget, index=self.alias, body={"ids": [asset_id]}, _source_includes=["doc"]
        )
        doc = found["docs"][0]
        return _asset(doc) if doc.get("found") else None

    def search(self, plan: QueryPlan) -> RankedPage:
        body = compile_plan(plan)
        if body is None:
            return RankedPage(total=0)
        self._ensure_index()
        response = self._call(
            self.client.search, index=self.alias, body=body, _source_includes=["doc"]
        )
        hits = response["hits"]
        ranked = [
            RankedHit(_asset(h), 0.0 if plan.browse else _float32(h["_score"]))
            for h in hits["hits"]
        ]
        return RankedPage(hits["total"]["value"], ranked)

    def iter_assets(self, folder: str = "") -> Iterator[Asset]:
        self._ensure_index()
        query: dict[str, Any] = {"match_all": {}}
        if folder:
            subtree = [{"term": {"folder": folder}}, {"prefix": {"folder": folder + "/"}}]
            query = {"bool": {"should": subtree, "minimum_should_match": 1}}
        body: dict[str, Any] = {"query": query, "sort": [{"id": "asc"}], "size": SCAN_PAGE}
        while True:
            response = self._call(
                self.client.search, index=self.alias, body=body, _source_includes=["doc"]
            )
            hits = response["hits"]["hits"]
            yield from (_asset(h) for h in hits)
            if len(hits) < SCAN_PAGE:
                return
            body["search_after"] = hits[-1]["sort"]

    def count(self) -> int:
        self._ensure_index()
        return self._call(self.client.count, index=self.alias)["count"]

    def stats(self) -> StoreStats:
        self._ensure_index()
        exact = {"precision_threshold": EXACT_CARDINALITY}
        machine_tags = {
            "filter": {"term": {"tags.source": "machine"}},
            "aggs": {"names": {"cardinality": {"field": "tags.tag", **exact}}},
        }
        aggs = {
            "media_type": {"terms": {"field": "media_type", "size": 100}},
            "status": {"terms": {"field": "status", "size": 100}},
            "folders": {"cardinality": {"field": "folder", **exact}},
            "tags": {"nested": {"path": "tags"}, "aggs": {"machine": machine_tags}},
        }
        body = {"size": 0, "track_total_hits": True, "aggs": aggs}
        response = self._call(self.client.search, index=self.alias, body=body)
        found = response["aggregations"]

        def buckets(name: str) -> dict[str, int]:
            return {b["key"]: b["doc_count"] for b in found[name]["buckets"]}

        return StoreStats(
            self.name,
            f"{self.url} index {self.alias}",
            response["hits"]["total"]["value"],
            buckets("media_type"),
            buckets("status"),
            found["tags"]["machine"]["names"]["value"],
            found["folders"]["value"],
        )

    def check(self) -> str:
        info = self._call(self.client.info)
        version = info["version"]["number"]
        if tuple(int(p) for p in re.findall(r"\d+", version)[:2]) < MIN_VERSION:
            raise StoreError(f"{self.url} runs OpenSearch {version}; smarttags needs 2.19 or newer")
        health = self._call(self.client.cluster.health)
        if health["status"] == "red":
            raise StoreError(
                f"OpenSearch cluster {health['cluster_name']} at {self.url} is red: some "
                "primary shards are unassigned; see GET _cluster/allocation/explain"
            )
        indices = ", ".join(self.current_indices()) or "no index yet (created on first use)"
        return (
            f"OpenSearch {version} at {self.url} "
            f"(cluster {health['cluster_name']} {health['status']}, "
            f"alias {self.alias} -> {indices})"
        )
