"""The one interface both stores implement; nothing else talks to SQLite or OpenSearch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from catalog.asset import Asset
from catalog.audit import AuditEntry
from catalog.folders import FolderSetting
from catalog.settings import Settings
from catalog.tag_thresholds import TagThreshold
from catalog.vectors import AssetVectors, FrameScores, SemanticQuery, VectorUpdate


class StoreError(RuntimeError):
    """A store failure with a message fit for a user."""


class BackendUnavailable(StoreError):
    """The configured backend cannot be reached; the message says how to fix it."""


@dataclass(frozen=True)
class RankedHit:
    asset: Asset
    score: float
    # the metadata fields holding some query term, when the store knows them from its index
    fields: tuple[str, ...] | None = None
    # semantic hits: the similarity they matched by (tier 4 in hybrid; every hit in the
    # semantic and by-example searches), and their frames scored, for a video's moments
    similarity: float | None = None
    frames: FrameScores | None = None


TotalRelation = Literal["eq", "gte"]


@dataclass(frozen=True)
class Total:
    """How many hits a search has: exact (`eq`) up to the cap, a lower bound (`gte`) beyond,
    as OpenSearch reports `hits.total` under `track_total_hits`."""

    value: int
    relation: TotalRelation = "eq"

    @classmethod
    def capped(cls, count: int, cap: int) -> Total:
        return cls(cap, "gte") if count > cap else cls(count, "eq")

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "relation": self.relation}


@dataclass(frozen=True)
class RankedPage:
    total: Total = field(default_factory=lambda: Total(0))
    hits: list[RankedHit] = field(default_factory=list)


@dataclass(frozen=True)
class TagChannelWeight:
    """Which indexed tags of one channel (source, kind) may match, and what they weigh."""

    source: str  # machine | manual | promoted
    kind: str
    weight: float | None  # None: the tag's stored quantised confidence (machine tags)
    min_confidence: float = 0.0  # machine tags below this do not match


@dataclass(frozen=True)
class MetadataTier:
    """Every term is in some metadata field; score = text_unit * text score + tag score."""

    text_unit: float


@dataclass(frozen=True)
class AllTagsTier:
    """Every term matches an eligible tag; score = base + tag score."""

    base: float


@dataclass(frozen=True)
class AnyTagTier:
    """At least one term matches an eligible tag; score = base + tag score."""

    base: float = 0.0


Tier = MetadataTier | AllTagsTier | AnyTagTier


@dataclass(frozen=True)
class SemanticStage:
    """Ranking by embedding similarity: tier 4 after the term tiers (hybrid), or the whole
    search (semantic mode, by example).

    Candidates are the assets holding a vector of the query's model and passing the filters,
    whose similarity reaches `floor` (None: every one). With `after_terms`, only assets no
    term matches (in any tier) take part, each ranked below every term hit. Ties go to the
    smaller id. With `moments`, the video hits of the page carry their frames scored."""

    query: SemanticQuery
    floor: float | None
    after_terms: bool
    exclude: str | None = None  # an asset left out (the example of a similar search)
    moments: bool = True


@dataclass(frozen=True)
class PostingsSearch:
    """A search compiled for the embedded store's term index (query/postings.py).

    A hit belongs to the first tier whose condition it meets; every hit of a tier ranks above
    every hit of the next one, and within the program's scores, ties go to the smaller id.
    Text score: per term, the best weight of the metadata fields holding it. Tag score: per
    term, the best weight of the eligible tags holding it. With no terms, the program browses
    every asset passing the filters, newest first (score 0). Totals are exact up to
    `total_cap` and a lower bound beyond it. `tag_thresholds`: (tag name, threshold) pairs
    that replace the channel's `min_confidence` for machine tags of that name."""

    terms: tuple[str, ...]
    tiers: tuple[Tier, ...]
    field_weights: dict[str, int]
    channels: tuple[TagChannelWeight, ...]
    folder: str  # '' = the whole library; else the folder and its subfolders
    media_type: str | None
    offset: int
    limit: int
    total_cap: int
    tag_thresholds: tuple[tuple[str, float], ...] = ()
    semantic: SemanticStage | None = None  # tier 4, or the whole search (see SemanticStage)


@dataclass(frozen=True)
class DslSemantic:
    """How to read the semantic part of a `DslSearch` (query/dsl_semantic.py).

    `similarity_of(score)`: a hit's similarity, or None for a term hit (hybrid tiers 1-3);
    with `replaces_score` (semantic and by-example searches) the hit's score is its
    similarity, else a semantic hit scores 0 (tier 4). With `moments`, the store scores the
    frames of the page's semantic video hits against `query`. `knn`: a k-NN query answered,
    whose total counts at most the k neighbours it was asked for."""

    similarity_of: Callable[[float], float | None]
    replaces_score: bool
    query: SemanticQuery
    moments: bool = True
    knn: bool = False


@dataclass(frozen=True)
class DslSearch:
    """A search compiled to an OpenSearch request body (query/dsl.py)."""

    body: dict[str, Any]
    scored: bool = True  # False when browsing: every hit scores 0
    semantic: DslSemantic | None = None


CompiledSearch = PostingsSearch | DslSearch
Dialect = Literal["postings", "dsl"]


@dataclass(frozen=True)
class StoreStats:
    backend: str
    location: str
    assets: int
    by_media_type: dict[str, int]
    by_status: dict[str, int]
    smart_tags: int
    folders: int


@dataclass(frozen=True)
class Versioned:
    """An asset with the version it was read at, for a compare-and-set `replace`."""

    asset: Asset
    version: str  # opaque: the SQLite row version, or OpenSearch "seq_no:primary_term"


@dataclass(frozen=True)
class RebuildReport:
    """What `rebuild_index` did: documents copied into `new`, from the `old` index(es)."""

    new: str
    old: list[str]
    documents: int
    caught_up: int = 0  # documents written during the rebuild, copied again (around the swap)
    backup: str | None = None  # SQLite: the backup file written first


RebuildProgress = Callable[[int, int], None]


class AssetStore(Protocol):
    name: str
    dialect: Dialect  # the compiled form `execute_search` takes
    settings: Settings

    def upsert_many(self, assets: Iterable[Asset]) -> int: ...

    # bulk import: rows prepared in worker processes, written in order
    def row_builder(self) -> Callable[[Asset], Any] | None:
        """A picklable function giving an asset's row form for `write_rows`, so that an
        import can validate and analyze in worker processes; None: import calls upsert_many."""
        ...

    def write_rows(self, rows: list[Any]) -> int:
        """Write rows of `row_builder` in order, as `upsert_many` would the assets."""
        ...

    def get(self, asset_id: str) -> Asset | None: ...

    def delete(self, asset_id: str) -> bool: ...

    def execute_search(self, compiled: CompiledSearch) -> RankedPage:
        """Run a search the query layer compiled; the store ranks nothing of its own."""
        ...

    def iter_assets(self, folder: str = "") -> Iterator[Asset]: ...

    def count(self) -> int: ...

    def folder_counts(self, limit: int) -> dict[str, int]:
        """Assets directly in each folder that holds any ('' is the library root), for at
        most `limit` folders (the first by name)."""
        ...

    def stats(self) -> StoreStats: ...

    def check(self) -> str: ...

    def close(self) -> None: ...

    # optimistic concurrency: read a version, write only if it is still current
    def read(self, asset_id: str) -> Versioned | None: ...

    def replace(self, asset: Asset, expected: str | None, vectors: VectorUpdate = None) -> bool:
        """Write `asset` if the stored version is `expected` (None: only if absent).

        False when another writer came first (the caller reads again and retries). Times are
        kept as `upsert_many` keeps them; the write is visible to search at once. `vectors`:
        the asset's new embeddings (catalog/vectors.py), CLEAR_VECTORS to drop them, None to
        keep what is stored (every other write keeps them too)."""
        ...

    # semantic search (catalog/vectors.py)
    def read_vectors(self, asset_id: str) -> AssetVectors | None:
        """The asset's stored embeddings, or None (no asset, or none indexed)."""
        ...

    def vector_count(self, model_id: str) -> int:
        """How many assets hold vectors of `model_id` (a search can rank by meaning)."""
        ...

    def frame_scores(
        self, asset_ids: list[str], query: SemanticQuery
    ) -> dict[str, FrameScores]:
        """The frames of these assets scored against `query` (assets without frame vectors
        of the query's model are left out)."""
        ...

    # folder settings (see catalog/folders.py)
    def folder_settings(self) -> list[FolderSetting]: ...

    def save_folder_setting(self, setting: FolderSetting) -> None:
        """Store one folder's setting; one that is all `inherit` is deleted."""
        ...

    # the moderation audit log, newest first
    def add_audit(self, entry: AuditEntry) -> None: ...

    def audit_log(
        self, asset_id: str | None = None, limit: int = 100, tag: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; `tag`: only the tag moderations of that tag name (no folder entry)."""
        ...

    # learned per-tag thresholds (catalog/tag_thresholds.py), seen by every process
    def tag_thresholds(self) -> list[TagThreshold]: ...

    def save_tag_thresholds(self, records: list[TagThreshold]) -> None:
        """Store these records (one per tag name), replacing those of the same names."""
        ...

    def delete_tag_thresholds(self, tags: list[str]) -> None: ...

    # the review queue's assets
    def recently_tagged(self, limit: int, folder: str = "") -> list[Asset]:
        """The `limit` assets tagged last (by `tagged_at`, newest first) under `folder`."""
        ...

    # index rebuild from the stored documents, readers never interrupted
    def rebuild_index(self, progress: RebuildProgress | None = None) -> RebuildReport: ...

    def drop_old_indices(self) -> list[str]:
        """Delete indices left behind by earlier rebuilds; returns their names."""
        ...
