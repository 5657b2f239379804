"""The one interface both stores implement; nothing else talks to SQLite or OpenSearch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from catalog.asset import Asset
from catalog.audit import AuditEntry
from catalog.folders import FolderSetting


class StoreError(RuntimeError):
    """A store failure with a message fit for a user."""


class BackendUnavailable(StoreError):
    """The configured backend cannot be reached; the message says how to fix it."""


@dataclass(frozen=True)
class RankedHit:
    asset: Asset
    score: float


@dataclass(frozen=True)
class RankedPage:
    total: int
    hits: list[RankedHit] = field(default_factory=list)


@dataclass(frozen=True)
class SqlSearch:
    """A search compiled for the embedded store (query/sql.py): the page query returns
    (asset rowid, score) rows, plus the total as a third column when `total_in_rows`;
    `count_sql` (same parameters) counts every hit, for pages that come back empty."""

    sql: str
    params: dict[str, Any]
    count_sql: str
    total_in_rows: bool = False


@dataclass(frozen=True)
class DslSearch:
    """A search compiled to an OpenSearch request body (query/dsl.py)."""

    body: dict[str, Any]
    scored: bool = True  # False when browsing: every hit scores 0


CompiledSearch = SqlSearch | DslSearch
Dialect = Literal["sql", "dsl"]


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

    def upsert_many(self, assets: Iterable[Asset]) -> int: ...

    def get(self, asset_id: str) -> Asset | None: ...

    def delete(self, asset_id: str) -> bool: ...

    def execute_search(self, compiled: CompiledSearch) -> RankedPage:
        """Run a search the query layer compiled; the store ranks nothing of its own."""
        ...

    def iter_assets(self, folder: str = "") -> Iterator[Asset]: ...

    def count(self) -> int: ...

    def stats(self) -> StoreStats: ...

    def check(self) -> str: ...

    def close(self) -> None: ...

    # optimistic concurrency: read a version, write only if it is still current
    def read(self, asset_id: str) -> Versioned | None: ...

    def replace(self, asset: Asset, expected: str | None) -> bool:
        """Write `asset` if the stored version is `expected` (None: only if absent).

        False when another writer came first (the caller reads again and retries). Times are
        kept as `upsert_many` keeps them; the write is visible to search at once."""
        ...

    # folder settings (see catalog/folders.py)
    def folder_settings(self) -> list[FolderSetting]: ...

    def save_folder_setting(self, setting: FolderSetting) -> None:
        """Store one folder's setting; one that is all `inherit` is deleted."""
        ...

    # the moderation audit log, newest first
    def add_audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, asset_id: str | None = None, limit: int = 100) -> list[AuditEntry]: ...

    # index rebuild from the stored documents, readers never interrupted
    def rebuild_index(self, progress: RebuildProgress | None = None) -> RebuildReport: ...

    def drop_old_indices(self) -> list[str]:
        """Delete indices left behind by earlier rebuilds; returns their names."""
        ...
