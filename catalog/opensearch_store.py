"""The scale-out store: OpenSearch through opensearch-py, a versioned index behind an alias.

The alias (`settings.opensearch_index`) is what every read and write names; the index behind it
is `<alias>-v<N>`, created from mappings/assets.json on first use. A reindex creates the next
version, fills it, and swaps the alias (`create_index`, `swap_alias`, `rebuild_index`).
The audit log, the folder settings and the learned tag thresholds live in plain indices beside
it, `<alias>-audit`, `<alias>-folders` and `<alias>-thresholds` (mappings/audit.json,
mappings/folders.json, mappings/thresholds.json), created on first use.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as NetworkError
from opensearchpy.exceptions import ConnectionTimeout, SSLError, TransportError

from catalog.asset import Asset, TagKind, utc_now
from catalog.audit import AuditEntry, ModerationAction
from catalog.effective import IndexedTag, TagSource, indexed_tags, meta_tokens, terms_field
from catalog.folders import FolderSetting
from catalog.opensearch_vectors import (
    MODEL_FIELD,
    SHIPPED_DIM,
    SOURCE_FIELDS,
    frames_request,
    read_frames,
    stored_vectors,
    vector_fields,
    vector_mapping,
    vectors_from_source,
)
from catalog.settings import Settings
from catalog.store import (
    BackendUnavailable,
    DslSearch,
    RankedHit,
    RankedPage,
    RebuildProgress,
    RebuildReport,
    StoreError,
    StoreStats,
    Total,
    Versioned,
)
from catalog.tag_thresholds import TagThreshold
from catalog.urls import redact
from catalog.vectors import AssetVectors, ClearVectors, FrameScores, SemanticQuery, VectorUpdate
from mappings import load_json

ASSETS_MAPPING = "assets.json"
AUDIT = "audit"  # the suffix of a side index and the stem of its mapping file
FOLDERS = "folders"
THRESHOLDS = "thresholds"
HTTP_CONFLICT = 409
MIN_VERSION = (2, 19)
SCAN_PAGE = 500
MAX_BACKOFF_S = 30.0
# Cardinality counts are exact below this many distinct values (the aggregation's maximum).
EXACT_CARDINALITY = 40_000
MIN_INNER_RESULT_WINDOW = 100  # OpenSearch's default; moments need one inner hit per frame

T = TypeVar("T")
log = logging.getLogger("smarttags.opensearch")
Hit = dict[str, Any]
BulkDoc = tuple[str, dict[str, Any]]  # (id, indexed document)
_COPIED = ["doc", *SOURCE_FIELDS]  # what a rebuild copies of a document: the asset, its vectors


class VersionConflict(StoreError):
    """A conditional write (if_seq_no, op_type create) found another version stored."""


def _iso(value: datetime) -> str:
    # Second precision, as the SQLite store keeps it: browse order and kept times agree.
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_mapping(name: str = ASSETS_MAPPING) -> dict[str, Any]:
    """A mapping shipped in the `mappings` package (package data, so any install has it)."""
    try:
        return load_json(name)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the index mapping {name}: {exc}") from None


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


def dashboard_fields(tags: list[IndexedTag]) -> dict[str, Any]:
    """Flat copies of the nested tags for OpenSearch Dashboards, whose standard
    visualizations cannot aggregate nested fields (mappings/dashboards.ndjson). Every stored
    tag counts, at any confidence: thresholds apply at query time. No search reads these."""
    kinds = Counter(t.kind for t in tags)
    return {
        "tag_kinds": sorted(kinds),
        "tag_counts": {kind.value: kinds[kind.value] for kind in TagKind},
        "tag_confidences": [t.confidence for t in tags if t.source is TagSource.machine],
    }


def index_document(asset: Asset, quantum: int) -> dict[str, Any]:
    """The indexed form of an asset: query fields (see query/dsl.py), fields for the
    dashboard, and the asset itself as `doc`."""
    tags = indexed_tags(asset, quantum)
    return {
        "id": asset.id,
        "path": asset.path,
        "folder": asset.folder,
        "media_type": asset.media_type.value,
        "status": asset.status.value,
        "status_reason": asset.status_reason,
        "created_at": _iso(asset.created_at),
        "updated_at": _iso(asset.updated_at),
        "tagged_at": _iso(asset.tagged_at) if asset.tagged_at else None,
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
        **dashboard_fields(tags),
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


def condition(expected: str | None) -> dict[str, Any]:
    """The request parameters of a write that must find version `expected` (None: none)."""
    if expected is None:
        return {"op_type": "create"}
    seq_no, _, primary_term = expected.partition(":")
    if not (seq_no.isdigit() and primary_term.isdigit()):
        raise ValueError(f"{expected!r} is not an OpenSearch version (seq_no:primary_term)")
    return {"if_seq_no": int(seq_no), "if_primary_term": int(primary_term)}


def _bulk_action(index: str, doc_id: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    if condition is None:
        return {"index": {"_index": index, "_id": doc_id}}
    condition = dict(condition)
    op = condition.pop("op_type", "index")
    return {op: {"_index": index, "_id": doc_id, **condition}}


@dataclass
class _Copied:
    """What a rebuild wrote into the new index: documents copied, and the highest sequence
    number of its own writes there."""

    documents: int = 0
    last_seq_no: int = -1

    def note(self, results: list[dict[str, Any]]) -> int:
        self.last_seq_no = max((r["_seq_no"] for r in results), default=self.last_seq_no)
        return len(results)


def _recopy(hit: Hit, held: Hit | None, own_last: int) -> dict[str, Any] | None:
    """The condition to copy an old index's `hit` into the new index under, given what the new
    index `held` of it; None: not at all, as the new index holds it as it is, or a writer
    wrote it there after the swap. A writer's write has a sequence number above all of the
    rebuild's own (`own_last`): the index has one shard (mappings/assets.json), so its sequence
    numbers order all of its writes."""
    if held is None:
        return condition(None)
    if held["_seq_no"] > own_last or held["_source"]["doc"] == hit["_source"]["doc"]:
        return None
    return condition(f"{held['_seq_no']}:{held['_primary_term']}")


def _kept(document: dict[str, Any], upsert: bool = True) -> dict[str, Any]:
    """A partial update that writes every field of `document` and keeps the stored vectors:
    an indexed document always has every one of its own fields (index_document; the asset's
    `doc` has every key, lists are replaced whole), so only the vector fields, which it
    leaves out, stay as stored. `upsert`: create the document when it is absent."""
    return {"doc": document, "doc_as_upsert": True} if upsert else {"doc": document}


def _without_vectors(properties: dict[str, Any]) -> dict[str, Any]:
    """Mapping properties less the knn_vector fields (at any depth)."""
    kept = {}
    for name, spec in properties.items():
        if spec.get("type") == "knn_vector":
            continue
        if "properties" in spec:
            spec = {**spec, "properties": _without_vectors(spec["properties"])}
        kept[name] = spec
    return kept


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _changed_since(since: datetime) -> dict[str, Any]:
    return {"range": {"updated_at": {"gte": _iso(since)}}}


class OpenSearchStore:
    name = "opensearch"
    dialect = "dsl"

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
        self._side_ready: set[str] = set()
        self._lock = threading.Lock()
        # vectors: the dimensions the current index maps, why it cannot hold them (an index
        # made before mapping 3, without index.knn), and recent counts per model
        self._vector_dims: set[int] = set()
        self._new_dims: dict[str, set[int]] = {}  # ... and those of indices being rebuilt
        self._vectors_off: str | None = None
        self._counts: dict[str, tuple[float, int]] = {}

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
                if exc.status_code == HTTP_CONFLICT:
                    raise VersionConflict(str(self._failed(exc))) from None
                if not _retryable(exc.status_code):
                    raise self._failed(exc) from None
                if attempt == retries:
                    raise self._overloaded(exc.status_code, retries) from None
            self._backoff(attempt)
            attempt += 1

    def call(self, request: Callable[..., T], /, **kwargs: Any) -> T:
        """A request with the store's retries and errors, for the side stores (jobs, keys)."""
        return self._call(request, **kwargs)

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
        name = self.index_name(version)
        self._create(name, ASSETS_MAPPING, exist_ok)
        return name

    def _create(self, name: str, mapping: str, exist_ok: bool) -> None:
        body = load_mapping(mapping)
        body["settings"]["index"]["max_result_window"] = self.settings.max_result_window
        if mapping == ASSETS_MAPPING:
            window = max(self.settings.max_frames_per_video, MIN_INNER_RESULT_WINDOW)
            body["settings"]["index"]["max_inner_result_window"] = window
        # exist_ok: another process may create the index at the same moment.
        ignore = {"ignore": 400} if exist_ok else {}
        response = self._call(self.client.indices.create, index=name, body=body, **ignore)
        reason = _error_reason(response) if "error" in response else ""
        if reason and not reason.startswith("resource_already_exists_exception"):
            raise StoreError(f"cannot create the index {name} on {self.url}: {reason}")

    def versioned_indices(self) -> dict[str, int]:
        """Every `<alias>-v<N>` index and its N, whether the alias points at it or not."""
        found = self._call(self.client.indices.get, index=f"{self.alias}-v*")
        pattern = re.compile(rf"{re.escape(self.alias)}-v(\d+)")
        return {name: int(m.group(1)) for name in found if (m := pattern.fullmatch(name))}

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
            else:
                self._add_new_fields()
            self._read_vector_support()
            self._ready = True

    def _add_new_fields(self) -> None:
        """Give indices made from an older mappings/assets.json the fields added since, in
        place (new fields need no new index). Documents gain their values when next written,
        or all at once with `smarttags reindex --rebuild-index`."""
        shipped = load_mapping()["mappings"]
        found = self._call(self.client.indices.get_mapping, index=self.alias)
        for index, held in found.items():
            present = held.get("mappings", {}).get("properties", {})
            missing = {k: v for k, v in shipped["properties"].items() if k not in present}
            if missing and not self._knn_enabled(index):
                missing = _without_vectors(missing)  # knn_vector needs index.knn, fixed at creation
            if missing:
                body = {"_meta": shipped["_meta"], "properties": missing}
                self._call(self.client.indices.put_mapping, index=index, body=body)

    def _knn_enabled(self, index: str) -> bool:
        found = self._call(self.client.indices.get_settings, index=index)
        value = found.get(index, {}).get("settings", {}).get("index", {}).get("knn", False)
        return str(value).lower() == "true"

    def _read_vector_support(self) -> None:
        """Which vector dimensions the current index maps, and whether it can hold vectors."""
        self._vectors_off = None
        indices = self.current_indices()
        if indices and not all(self._knn_enabled(i) for i in indices):
            self._vectors_off = (
                f"the index behind {self.alias} was made before semantic search (no index.knn): "
                "run `smarttags reindex --rebuild-index` to make one that holds vectors"
            )
            return
        found = self._call(self.client.indices.get_mapping, index=self.alias)
        dims: set[int] = set()
        for held in found.values():
            for name in held.get("mappings", {}).get("properties", {}):
                if name.startswith("asset_vector_"):
                    dims.add(int(name.rsplit("_", 1)[1]))
        self._vector_dims = dims

    def _ensure_dims(self, dims: set[int], index: str | None = None) -> None:
        """Map the vector fields of dimensions not mapped yet (in `index`, default the alias;
        a new index holds the shipped dimension)."""
        if index is None:
            known = self._vector_dims
        else:
            known = self._new_dims.setdefault(index, {SHIPPED_DIM})
        for dim in sorted(dims - known):
            body = {"properties": vector_mapping(dim)}
            self._call(self.client.indices.put_mapping, index=index or self.alias, body=body)
            known.add(dim)

    def _vector_doc(self, update: AssetVectors | ClearVectors | None) -> dict[str, Any]:
        """The vector fields a whole-document write sends: the new vectors, or none."""
        if not isinstance(update, AssetVectors):
            return {}
        if self._vectors_off:
            log.warning("vectors of %s not written: %s", self.alias, self._vectors_off)
            return {}
        self._ensure_dims({update.dim})
        return vector_fields(update)

    def side_index(self, kind: str) -> str:
        """`<alias>-<kind>`, created from mappings/<kind>.json on first use."""
        name = f"{self.alias}-{kind}"
        if name in self._side_ready:
            return name
        with self._lock:
            if name not in self._side_ready:
                self._create(name, f"{kind}.json", exist_ok=True)
                self._side_ready.add(name)
        return name

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

    def row_builder(self) -> None:
        return None  # imports send validated assets to upsert_many

    def write_rows(self, rows: list[Any]) -> int:
        raise NotImplementedError("the OpenSearch store takes assets through upsert_many")

    def _write_chunk(self, chunk: list[Asset]) -> int:
        created = self._created_at([a.id for a in chunk])
        docs: list[BulkDoc] = []
        for asset in chunk:
            asset = keep_times(asset, created.get(asset.id))
            # A later duplicate in the same chunk keeps this one's creation time.
            created[asset.id] = _iso(asset.created_at)
            docs.append((asset.id, index_document(asset, self.settings.weight_quantum)))
        self._bulk(docs, keep_vectors=True)  # imports keep vectors
        return len(chunk)

    def _created_at(self, ids: list[str]) -> dict[str, str]:
        found = self._call(
            self.client.mget,
            index=self.alias,
            body={"ids": list(dict.fromkeys(ids))},
            _source_includes=["created_at"],
        )
        return {d["_id"]: d["_source"]["created_at"] for d in found["docs"] if d.get("found")}

    def _bulk(
        self,
        docs: list[BulkDoc],
        index: str | None = None,
        conditions: Mapping[str, dict[str, Any]] | None = None,
        keep_vectors: bool = False,
    ) -> list[dict[str, Any]]:
        """Index `docs` into `index` (default: through the alias), retrying the items the
        cluster rejected for load (429/5xx); returns the results of the items written. An item
        sent with a condition (`conditions[id]`: if_seq_no/if_primary_term, or op_type create)
        that another writer broke (409) is left out. `keep_vectors`: update existing documents
        in place instead (see `_kept`), so the vectors they hold stay."""
        retries = self.settings.opensearch_max_retries
        target = index or self.alias
        conditions = conditions or {}
        written: list[dict[str, Any]] = []
        pending = docs
        for attempt in range(retries + 1):
            body: list[dict[str, Any]] = []
            for doc_id, doc in pending:
                if keep_vectors:
                    body += [{"update": {"_index": target, "_id": doc_id}}, _kept(doc)]
                else:
                    body += [_bulk_action(target, doc_id, conditions.get(doc_id)), doc]
            response = self._call(self.client.bulk, body=body)
            pending = self._sort_out(response, pending, conditions, written)
            if not pending:
                return written
            if attempt < retries:
                self._backoff(attempt)
        raise self._overloaded(429, retries)

    def _sort_out(
        self,
        response: dict[str, Any],
        sent: list[BulkDoc],
        conditions: Mapping[str, dict[str, Any]],
        written: list[dict[str, Any]],
    ) -> list[BulkDoc]:
        """Adds the results of the items written to `written`; returns the items to retry."""
        again = []
        for item, doc in zip(response["items"], sent, strict=True):
            result = next(iter(item.values()))
            status = result.get("status", 200)
            if status < 300:
                written.append(result)
                continue
            if status == HTTP_CONFLICT and doc[0] in conditions:
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

    # optimistic concurrency: the version is the document's "seq_no:primary_term"
    def read(self, asset_id: str) -> Versioned | None:
        self._ensure_index()
        found = self._call(
            self.client.get, index=self.alias, id=asset_id, _source_includes=["doc"], ignore=404
        )
        if not found.get("found"):
            return None
        return Versioned(_asset(found), f"{found['_seq_no']}:{found['_primary_term']}")

    def read_many(self, asset_ids: list[str]) -> dict[str, Versioned]:
        """`read` for many ids at once (absent ids are left out)."""
        self._ensure_index()
        found: dict[str, Versioned] = {}
        for chunk in _batches(asset_ids, self.settings.opensearch_bulk_chunk):
            docs = self._call(
                self.client.mget, index=self.alias, body={"ids": chunk}, _source_includes=["doc"]
            )["docs"]
            for doc in docs:
                if doc.get("found"):
                    version = f"{doc['_seq_no']}:{doc['_primary_term']}"
                    found[doc["_id"]] = Versioned(_asset(doc), version)
        return found

    def replace(self, asset: Asset, expected: str | None, vectors: VectorUpdate = None) -> bool:
        self._ensure_index()
        written_if = condition(expected)
        # a document that was read names its creation time: no lookup needed to keep it
        known = "created_at" in asset.model_fields_set
        asset = keep_times(asset, None if known else self._created_at([asset.id]).get(asset.id))
        document = index_document(asset, self.settings.weight_quantum)
        if vectors is None and expected is not None:
            return self._update_keeping_vectors(asset.id, document, written_if)
        document.update(self._vector_doc(vectors))
        try:
            self._call(
                self.client.index,
                index=self.alias,
                id=asset.id,
                body=document,
                refresh=True,
                **written_if,
            )
        except VersionConflict:
            return False
        return True

    def _update_keeping_vectors(
        self, asset_id: str, document: dict[str, Any], written_if: dict[str, Any]
    ) -> bool:
        """Write `document` over the stored one at the expected version, its vectors left
        where they are (a moderation, an edit: nothing to send back and forth)."""
        try:
            found = self._call(
                self.client.update,
                index=self.alias,
                id=asset_id,
                body=_kept(document, upsert=False),
                refresh=True,
                ignore=404,
                **written_if,
            )
        except VersionConflict:
            return False
        return found.get("result") in ("updated", "noop")

    # folder settings and the audit log, in plain indices beside the alias
    def folder_settings(self) -> list[FolderSetting]:
        pages = self._scan(self.side_index(FOLDERS), {"match_all": {}}, sort="folder")
        return [FolderSetting.model_validate(hit["_source"]) for hits in pages for hit in hits]

    def save_folder_setting(self, setting: FolderSetting) -> None:
        index = self.side_index(FOLDERS)
        # '' (the library root) is no valid document id, and paths would need escaping
        doc_id = hashlib.sha1(setting.folder.encode()).hexdigest()
        if setting.is_default:
            self._call(self.client.delete, index=index, id=doc_id, refresh=True, ignore=404)
            return
        body = setting.model_dump(mode="json")
        self._call(self.client.index, index=index, id=doc_id, body=body, refresh=True)

    def add_audit(self, entry: AuditEntry) -> None:
        # `at` has second precision: the write time orders the entries of one second
        body = {**entry.model_dump(mode="json"), "logged_us": time.time_ns() // 1000}
        index = self.side_index(AUDIT)
        self._call(self.client.index, index=index, id=entry.id, body=body, refresh=True)

    def audit_log(
        self, asset_id: str | None = None, limit: int = 100, tag: str | None = None
    ) -> list[AuditEntry]:
        filters: list[dict[str, Any]] = []
        if asset_id is not None:
            filters.append({"term": {"asset_id": asset_id}})
        must_not: list[dict[str, Any]] = []
        if tag is not None:
            filters.append({"term": {"tag": tag}})
            must_not.append({"term": {"action": ModerationAction.folder.value}})
        query: dict[str, Any] = {"match_all": {}}
        if filters:
            query = {"bool": {"filter": filters, "must_not": must_not}}
        body = {
            "query": query,
            "sort": [{"at": "desc"}, {"logged_us": "desc"}, {"id": "desc"}],
            "size": min(limit, self.settings.max_result_window),
        }
        response = self._call(self.client.search, index=self.side_index(AUDIT), body=body)
        entries = []
        for hit in response["hits"]["hits"]:
            fields = {k: v for k, v in hit["_source"].items() if k != "logged_us"}
            entries.append(AuditEntry.model_validate(fields))
        return entries

    # learned per-tag thresholds, in a plain index beside the alias
    def tag_thresholds(self) -> list[TagThreshold]:
        pages = self._scan(self.side_index(THRESHOLDS), {"match_all": {}}, sort="tag")
        return [TagThreshold.model_validate(hit["_source"]) for hits in pages for hit in hits]

    def save_tag_thresholds(self, records: list[TagThreshold]) -> None:
        index = self.side_index(THRESHOLDS)
        for record in records:
            body = record.model_dump(mode="json", exclude_none=True)
            doc_id = hashlib.sha1(record.tag.encode()).hexdigest()
            self._call(self.client.index, index=index, id=doc_id, body=body, refresh=True)

    def delete_tag_thresholds(self, tags: list[str]) -> None:
        index = self.side_index(THRESHOLDS)
        for tag in tags:
            doc_id = hashlib.sha1(tag.encode()).hexdigest()
            self._call(self.client.delete, index=index, id=doc_id, refresh=True, ignore=404)

    def recently_tagged(self, limit: int, folder: str = "") -> list[Asset]:
        self._ensure_index()
        filters: list[dict[str, Any]] = [{"exists": {"field": "tagged_at"}}]
        if folder:
            subtree = [{"term": {"folder": folder}}, {"prefix": {"folder": folder + "/"}}]
            filters.append({"bool": {"should": subtree, "minimum_should_match": 1}})
        body = {
            "query": {"bool": {"filter": filters}},
            "sort": [{"tagged_at": "desc"}, {"id": "asc"}],
            "size": min(limit, self.settings.max_result_window),
        }
        response = self._call(
            self.client.search, index=self.alias, body=body, _source_includes=["doc"]
        )
        return [_asset(hit) for hit in response["hits"]["hits"]]

    # index rebuild: a new versioned index filled from the stored documents, then the swap
    def rebuild_index(self, progress: RebuildProgress | None = None) -> RebuildReport:
        """Copy every document into `<alias>-v<N+1>` (indexed by the current code), swap the
        alias, and keep the old index (see `drop_old_indices`).

        Readers use the old index until the atomic swap, then the new one. Writers write
        through the alias, so writes land in the old index until the swap: what was written
        there since the rebuild began is copied again, once before the swap (the new index has
        no other writer yet) and once after it, where a document written to the new index
        since the swap is left alone. Limitations: a deletion during the rebuild is not
        carried over, nor is a write with an explicit `updated_at` older than the rebuild, and
        a writer that reads a document from the new index in the moment between the swap and
        the last pass may work from its state before the last pass."""
        self._ensure_index()
        old = self.current_indices()
        new = self.create_index(max(self.versioned_indices().values(), default=0) + 1)
        margin = timedelta(seconds=self.settings.rebuild_catch_up_margin_s)
        began = utc_now() - margin
        try:
            copied = self._copy_all(new, progress)
            before_swap = utc_now() - margin
            caught_up = self._catch_up(old, new, began, copied)
            self._call(self.client.indices.refresh, index=new)
        except BaseException:
            self._discard(new)  # readers never saw it; a later rebuild starts afresh
            raise
        self.swap_alias(new)
        caught_up += self._catch_up(old, new, before_swap, copied)
        self._call(self.client.indices.refresh, index=new)
        self._read_vector_support()  # the new index is made by mapping 3: it holds vectors
        return RebuildReport(new=new, old=old, documents=copied.documents, caught_up=caught_up)

    def _copy_all(self, new: str, progress: RebuildProgress | None) -> _Copied:
        """Every document of the alias, indexed by the current code into `new`."""
        total = self.count()
        copied = _Copied()
        page = self.settings.opensearch_copy_page
        for hits in self._scan(self.alias, {"match_all": {}}, source=_COPIED, page=page):
            docs = self._copies(hits, new)
            copied.documents += copied.note(self._bulk(docs, index=new))
            if progress is not None:
                progress(copied.documents, total)
        return copied

    def _copies(self, hits: list[Hit], new: str) -> list[BulkDoc]:
        """The documents of `hits` indexed by the current code, their vectors kept."""
        docs = []
        dims = set()
        for hit in hits:
            document = index_document(_asset(hit), self.settings.weight_quantum)
            kept = stored_vectors(hit["_source"])
            dims |= {len(v) for k, v in kept.items() if k.startswith("asset_vector_")}
            document.update(kept)
            docs.append((hit["_id"], document))
        self._ensure_dims(dims, index=new)
        return docs

    def _catch_up(self, old: list[str], new: str, since: datetime, copied: _Copied) -> int:
        """Copy again what was written to `old` since `since` (see `_recopy`); returns how
        many documents it wrote."""
        own_last = copied.last_seq_no  # fixed for the pass: its own writes are not a writer's
        written = 0
        # a bulk write is searchable only after a refresh, which its writer may not have made yet
        self._call(self.client.indices.refresh, index=",".join(old))
        page = self.settings.opensearch_copy_page
        for hits in self._scan(",".join(old), _changed_since(since), source=_COPIED, page=page):
            held = self._held(new, [h["_id"] for h in hits])
            conditions: dict[str, dict[str, Any]] = {}
            again = []
            for hit in hits:
                condition = _recopy(hit, held.get(hit["_id"]), own_last)
                if condition is not None:
                    conditions[hit["_id"]] = condition
                    again.append(hit)
            docs = self._copies(again, new)
            if docs:
                written += copied.note(self._bulk(docs, index=new, conditions=conditions))
        return written

    def _discard(self, index: str) -> None:
        with suppress(StoreError):  # the rebuild's own error is the one to report
            self._call(self.client.indices.delete, index=index, ignore=404)

    def _held(self, index: str, ids: list[str]) -> dict[str, Hit]:
        """The documents of `index` with these ids, with their sequence numbers (realtime)."""
        found = self._call(
            self.client.mget, index=index, body={"ids": ids}, _source_includes=["doc"]
        )
        return {d["_id"]: d for d in found["docs"] if d.get("found")}

    def drop_old_indices(self) -> list[str]:
        """Delete the versioned indices older than the one the alias points at. A newer one
        is kept: it may be a rebuild that is running now."""
        current = self.current_indices()
        versions = self.versioned_indices()
        newest = max((versions[name] for name in current if name in versions), default=0)
        stale = sorted((n for n, v in versions.items() if v < newest), key=versions.__getitem__)
        for name in stale:
            self._call(self.client.indices.delete, index=name)
        return stale

    # reads
    def get(self, asset_id: str) -> Asset | None:
        self._ensure_index()
        found = self._call(
            self.client.mget, index=self.alias, body={"ids": [asset_id]}, _source_includes=["doc"]
        )
        doc = found["docs"][0]
        return _asset(doc) if doc.get("found") else None

    def execute_search(self, compiled: DslSearch) -> RankedPage:  # type: ignore[override]
        self._ensure_index()
        response = self._call(
            self.client.search, index=self.alias, body=compiled.body, _source_includes=["doc"]
        )
        hits = response["hits"]
        total = hits["total"]
        if compiled.semantic is not None:
            ranked = self._semantic_hits(compiled, hits["hits"])
        else:
            ranked = [
                RankedHit(_asset(h), _float32(h["_score"]) if compiled.scored else 0.0)
                for h in hits["hits"]
            ]
        return RankedPage(Total(total["value"], total.get("relation", "eq")), ranked)

    def _semantic_hits(self, compiled: DslSearch, hits: list[Hit]) -> list[RankedHit]:
        """Hits read as the compiled search says (catalog/store.DslSemantic), the frames of
        its semantic video hits scored."""
        semantic = compiled.semantic
        assert semantic is not None
        ranked = []
        for hit in hits:
            score = _float32(hit["_score"])
            similarity = semantic.similarity_of(score)
            if similarity is not None:
                score = similarity if semantic.replaces_score else 0.0
            ranked.append(RankedHit(_asset(hit), score, similarity=similarity))
        videos = [
            h.asset.id
            for h in ranked
            if h.similarity is not None and h.asset.media_type.value == "video"
        ]
        frames = self.frame_scores(videos, semantic.query) if semantic.moments else {}
        return [replace(h, frames=frames.get(h.asset.id)) for h in ranked]

    # semantic search: vectors beside the documents (catalog/opensearch_vectors.py)
    def read_vectors(self, asset_id: str) -> AssetVectors | None:
        self._ensure_index()
        found = self._call(
            self.client.get,
            index=self.alias,
            id=asset_id,
            _source_includes=SOURCE_FIELDS,
            ignore=404,
        )
        return vectors_from_source(found.get("_source", {})) if found.get("found") else None

    def vector_count(self, model_id: str) -> int:
        """Assets holding vectors of `model_id`; a count above zero is trusted for
        `vector_count_ttl_s` (one request less per search), zero is asked again."""
        self._ensure_index()
        now = time.monotonic()
        cached = self._counts.get(model_id)
        if cached is not None and now - cached[0] < self.settings.vector_count_ttl_s:
            return cached[1]
        body = {"query": {"term": {MODEL_FIELD: model_id}}}
        count = self._call(self.client.count, index=self.alias, body=body)["count"]
        if count:
            self._counts[model_id] = (now, count)
        return count

    def frame_scores(
        self, asset_ids: list[str], query: SemanticQuery
    ) -> dict[str, FrameScores]:
        if not asset_ids or self._vectors_off:
            return {}
        self._ensure_index()
        if len(query.vector) not in self._vector_dims:
            return {}
        window = max(self.settings.max_frames_per_video, MIN_INNER_RESULT_WINDOW)
        body = frames_request(asset_ids, query, window)
        response = self._call(self.client.search, index=self.alias, body=body)
        return read_frames(response, query)

    def iter_assets(self, folder: str = "") -> Iterator[Asset]:
        self._ensure_index()
        query: dict[str, Any] = {"match_all": {}}
        if folder:
            subtree = [{"term": {"folder": folder}}, {"prefix": {"folder": folder + "/"}}]
            query = {"bool": {"should": subtree, "minimum_should_match": 1}}
        for hits in self._scan(self.alias, query, source=["doc"]):
            yield from (_asset(h) for h in hits)

    def _scan(
        self,
        index: str,
        query: dict[str, Any],
        sort: str = "id",
        source: list[str] | None = None,
        page: int = SCAN_PAGE,
    ) -> Iterator[list[Hit]]:
        """Pages of the hits of `query` in `index`, in `sort` order (a unique keyword)."""
        body: dict[str, Any] = {"query": query, "sort": [{sort: "asc"}], "size": page}
        fields = {"_source_includes": source} if source else {}
        while True:
            response = self._call(self.client.search, index=index, body=body, **fields)
            hits = response["hits"]["hits"]
            if hits:
                yield hits
            if len(hits) < page:
                return
            body["search_after"] = hits[-1]["sort"]

    def count(self) -> int:
        self._ensure_index()
        return self._call(self.client.count, index=self.alias)["count"]

    def folder_counts(self, limit: int) -> dict[str, int]:
        self._ensure_index()
        by_name = {"terms": {"field": "folder", "size": limit, "order": {"_key": "asc"}}}
        body = {"size": 0, "aggs": {"folders": by_name}}
        response = self._call(self.client.search, index=self.alias, body=body)
        buckets = response["aggregations"]["folders"]["buckets"]
        return {b["key"]: b["doc_count"] for b in buckets}

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


class OpenSearchSide:
    """Base of the stores kept in side indices beside the assets (job records, keys): they
    use the caller's OpenSearchStore, or open and close one of their own."""

    def __init__(self, settings: Settings, store: OpenSearchStore | None = None) -> None:
        self._store = store or OpenSearchStore(settings)
        self._owns_store = store is None

    def close(self) -> None:
        if self._owns_store:
            self._store.close()
