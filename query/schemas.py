"""Response models: what each route answers, as the OpenAPI schema states it.

The routes' dicts are validated against these on the way out, so a drift between the code and
the published contract fails loudly (in the tests, and the schemathesis run) instead of
reaching clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.asset import Asset
from catalog.audit import AuditEntry
from catalog.jobs import JobRecord, WorkerRecord
from catalog.keys import Role
from catalog.training_runs import TagReport


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Segment = tuple[float, float]


class TagRow(Strict):
    """One tag as search sees it: curated weight, the machine's confidence and segments."""

    tag: str
    kind: str
    source: Literal["machine", "manual", "promoted"]
    confidence: float
    weight: float
    effective: bool = Field(description="whether it counts for search under the thresholds")
    suggested: bool = Field(
        description="a machine tag below its threshold: a stored candidate that does not count"
    )
    threshold: float | None = Field(
        description="the confidence the machine tag of this name needs (its kind's, or its "
        "own learned one); null when the machine has no tag of this name"
    )
    segments: list[Segment]


class MatchedTag(Strict):
    tag: str
    kind: str
    source: str
    weight: float


class Matched(Strict):
    metadata: list[str]
    tags: list[MatchedTag]


class Moment(Strict):
    """A time range of a video where the query matches, scored like the hit's similarity."""

    start_s: float
    end_s: float
    score: float


class SearchHit(Strict):
    id: str
    tier: int | None = Field(
        description="1-3 by the terms, 4 by meaning only (tier 4 of hybrid, every semantic and "
        "by-example hit); null when browsing"
    )
    score: float = Field(
        description="the ranking contract's score for tiers 1-3; 0 for tier 4 of hybrid; the "
        "similarity in semantic and by-example results"
    )
    path: str
    title: str
    media_type: str
    folder: str
    matched: Matched
    tags: list[TagRow]
    similarity: float | None = Field(
        description="for hits by meaning: a text query's calibrated confidence (the tags' "
        "scale), or an example's cosine; null for term hits"
    )
    moments: list[Moment] = Field(
        description="for videos matched by meaning: where the query matches best, best first"
    )


class Total(Strict):
    """How many hits: exact (`eq`) up to 10,000, a lower bound (`gte`) beyond, as OpenSearch
    reports it."""

    value: int
    relation: Literal["eq", "gte"]


class ReviewItem(Strict):
    """A suggested tag (a machine candidate below its threshold) awaiting a verdict."""

    asset_id: str
    path: str
    title: str
    media_type: str
    tag: str
    kind: str
    confidence: float
    threshold: float
    segments: list[Segment]


class ReviewQueue(Strict):
    items: list[ReviewItem]
    total: int


class TagThresholdRow(Strict):
    tag: str
    kind: str
    threshold: float = Field(description="the confidence its machine tags need")
    source: Literal["default", "learned"]
    positives: int
    negatives: int
    updated_at: datetime | None


class TagThresholds(Strict):
    tags: list[TagThresholdRow]
    defaults: dict[str, float] = Field(description="the threshold of each kind")


class SemanticStatus(Strict):
    available: bool = Field(description="whether this server can search by meaning now")
    reason: str | None = Field(description="why not, and how to fix it")


class SearchResult(Strict):
    total: Total
    offset: int
    limit: int
    query: str = Field(description="the query text as sent (empty for searches by example)")
    mode: Literal["hybrid", "keyword", "semantic"] = Field(description="the mode actually used")
    semantic: SemanticStatus
    terms: list[str]
    notices: list[str]
    hits: list[SearchHit]


class MomentsResult(Strict):
    asset_id: str
    query: str
    moments: list[Moment]


class AssetView(Asset):
    """The asset document, with its tags as search sees them."""

    tags: list[TagRow]


class UploadAccepted(Strict):
    job_id: str
    status_url: str
    asset_id: str
    path: str
    size_bytes: int
    status: Literal["queued"]


class JobAccepted(Strict):
    job_id: str
    status_url: str


class ReprocessAccepted(JobAccepted):
    mode: Literal["retag", "full"]


class RemovedTag(Strict):
    tag: str
    kind: str | None
    confidence: float | None
    segments: list[Segment]


class TagView(Strict):
    asset_id: str
    tags: list[TagRow]
    removed: list[RemovedTag]


class ModerationResult(TagView):
    action: str
    tag: str
    changed: bool
    before: str
    after: str
    audit: AuditEntry | None


class AuditLog(Strict):
    asset_id: str
    entries: list[AuditEntry]


class FolderValue(Strict):
    setting: Literal["inherit", "enable", "disable"]
    effective: Literal["enable", "disable"]
    inherited_from: str | None = Field(description="the folder it comes from; null: default")


class FolderView(Strict):
    folder: str
    video: FolderValue
    image: FolderValue
    updated_at: datetime | None
    updated_by: str | None


class FolderList(Strict):
    folders: list[FolderView]


class FolderAudit(Strict):
    folder: str
    entries: list[AuditEntry]


class JobList(Strict):
    jobs: list[JobRecord]
    counts: dict[str, int]


class Schedule(Strict):
    enabled: bool
    runs_in: str
    training_cron: str
    tagging_cron: str
    next_runs: dict[str, datetime]


class _TrainingRecord(Strict):
    """What a training run records: shared by the report and the run's own record."""

    run: str
    started: str
    finished: str | None
    state: str
    message: str | None
    folder: str
    tags_requested: list[str]
    model_id: str | None
    counts: dict[str, int]
    errors: list[dict[str, str]]


class TrainingReport(_TrainingRecord):
    tags: list[TagReport]


class TrainingRun(_TrainingRecord):
    trained_tags: list[str]


class TrainingRuns(Strict):
    runs: list[TrainingRun]


class Probe(Strict):
    ok: bool
    detail: str


class BackendProbe(Probe):
    name: str


class Workers(Strict):
    alive: int
    ok: bool
    list: list[WorkerRecord]


class Health(Strict):
    status: Literal["ok", "unavailable"]
    backend: BackendProbe
    queue: Probe
    workers: Workers
    assets: int | None = None
    detail: str | None = None


class KeyInfo(Strict):
    name: str
    role: Role
    created_at: datetime


class KeyList(Strict):
    keys: list[KeyInfo]


class NewKey(Strict):
    name: str
    role: Role
    key: str = Field(description="the key itself: shown this once, never stored")


class Me(Strict):
    name: str | None = Field(description="the key's name; null when anonymous")
    role: Role
    anonymous: bool = Field(description="no key exists: everyone may do everything")


class TreeFolder(Strict):
    """A folder of the library: its assets and its smart-tag settings."""

    folder: str = Field(description="'' is the library root")
    assets: int = Field(description="assets directly in this folder")
    total: int = Field(description="assets in this folder and its subfolders")
    video: FolderValue
    image: FolderValue


class FolderTree(Strict):
    folders: list[TreeFolder] = Field(description="parents before children, by name")
    truncated: bool = Field(description="more folders hold assets than SMARTTAGS_MAX_TREE_FOLDERS")
