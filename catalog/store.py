"""The one interface both stores implement; nothing else talks to SQLite or OpenSearch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from catalog.asset import Asset
from query.plan import QueryPlan


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
class StoreStats:
    backend: str
    location: str
    assets: int
    by_media_type: dict[str, int]
    by_status: dict[str, int]
    smart_tags: int
    folders: int


class AssetStore(Protocol):
    name: str

    def upsert_many(self, assets: Iterable[Asset]) -> int: ...

    def get(self, asset_id: str) -> Asset | None: ...

    def delete(self, asset_id: str) -> bool: ...

    def search(self, plan: QueryPlan) -> RankedPage: ...

    def iter_assets(self, folder: str = "") -> Iterator[Asset]: ...

    def count(self) -> int: ...

    def stats(self) -> StoreStats: ...

    def check(self) -> str: ...

    def close(self) -> None: ...
