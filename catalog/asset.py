"""The asset document: one video or image of the library, its metadata and its tags."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from posixpath import basename, dirname, normpath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_TAG_CHARS = 100
ASSET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ASSET_ID = re.compile(ASSET_ID_PATTERN)
_SPACES = re.compile(r"\s+")
# control characters (Unicode category Cc): never part of a tag, a path or a folder
CONTROL = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL}]")
# What a tag may be: no control character, and something besides white space. The OpenAPI
# schema states it; normalize_tag applies it (the same expression).
TAG_PATTERN = f"^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$"
# What a folder may be: no control character, no `..` segment, no drive letter. The OpenAPI
# schema states it; normalize_folder applies it (the same expression).
FOLDER_PATTERN = (
    r"^(?!\s*[A-Za-z]:)(?![\s\S]*(?:^|[/\\])\s*\.\.\s*(?:[/\\]|$))" f"[^{CONTROL}]*$"
)
_FOLDER = re.compile(FOLDER_PATTERN)
_EDGES = re.compile(r"^[\s/]+|[\s/]+$")


class MediaType(StrEnum):
    video = "video"
    image = "image"


class TagKind(StrEnum):
    object = "object"
    action = "action"
    custom = "custom"


class AssetStatus(StrEnum):
    pending = "pending"  # known, not processed yet
    queued = "queued"  # uploaded; a worker's indexing job will process it
    catalogued = "catalogued"  # metadata only (imported, or smart tags disabled)
    tagged = "tagged"
    skipped = "skipped"  # not processed on purpose (too large, ...): see status_reason
    failed = "failed"  # processing failed: see status_reason


# Validation context of a document read back from the store that wrote it: it was validated
# and normalized then, so the checks written in Python are skipped (a search page reads 20).
STORED = {"stored": True}


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def valid_asset_id(asset_id: str) -> bool:
    return _ASSET_ID.match(asset_id) is not None


@lru_cache(maxsize=65_536)  # every asset validated repeats a few thousand tag names
def normalize_tag(name: str) -> str:
    """Tag identity: case-insensitive, whitespace-collapsed."""
    if has_control(name):
        raise ValueError("a tag name must not contain control characters (newlines, tabs, NUL)")
    tag = _SPACES.sub(" ", name).strip()
    if not tag:
        raise ValueError("a tag name must not be empty")
    if len(tag) > MAX_TAG_CHARS:
        raise ValueError(f"a tag name must be at most {MAX_TAG_CHARS} characters")
    return tag.lower()


def _normalize_tag_list(names: list[str]) -> list[str]:
    return list(dict.fromkeys(normalize_tag(n) for n in names))


TagName = Annotated[str, AfterValidator(normalize_tag)]
TagList = Annotated[list[str], AfterValidator(_normalize_tag_list)]


def normalize_path(path: str) -> str:
    """A library-relative POSIX path; absolute paths and `..` are refused."""
    if has_control(path):
        raise ValueError("path must not contain control characters (newlines, tabs, NUL)")
    cleaned = path.replace("\\", "/").strip()
    if not cleaned or cleaned.startswith("/") or re.match(r"^[A-Za-z]:/", cleaned):
        raise ValueError("path must be relative to the library root")
    norm = normpath(cleaned)
    if norm == "." or norm.startswith("../") or norm == "..":
        raise ValueError("path must stay inside the library root")
    return norm


def normalize_folder(folder: str | None) -> str:
    """A folder filter or setting key: '' is the library root (also '', '.', '/')."""
    if folder is None:
        return ""
    if not _FOLDER.fullmatch(folder):
        if has_control(folder):
            raise ValueError("a folder must not contain control characters (newlines, tabs, NUL)")
        raise ValueError("a folder must stay inside the library root: no '..' and no drive letter")
    cleaned = _EDGES.sub("", folder.replace("\\", "/"))
    norm = normpath(cleaned) if cleaned else "."
    return "" if norm == "." else norm


def asset_id_for_path(path: str) -> str:
    """The stable id of an asset that arrives without one: derived from its path."""
    return hashlib.sha1(normalize_path(path).encode()).hexdigest()[:20]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class SmartTag(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: TagName
    kind: TagKind
    confidence: float = Field(ge=0.0, le=1.0)
    segments: list[tuple[float, float]] = Field(default_factory=list)

    # segments are checked by the asset that holds the tag (Asset._one_entry_per_tag): one
    # Python call per asset instead of one per tag when a page of hits is read back


def _check_segments(tag: SmartTag) -> None:
    for start, end in tag.segments:
        if start < 0 or end < start:
            raise ValueError(f"segment [{start}, {end}] of {tag.tag!r} must have 0 <= start <= end")


class Asset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ASSET_ID_PATTERN)
    path: str
    folder: str = ""
    file_name: str = ""
    media_type: MediaType
    title: str = ""
    description: str = ""
    keywords: list[str] = Field(default_factory=list)
    size_bytes: int | None = Field(default=None, ge=0)
    format: str | None = None
    codec: str | None = None
    duration_s: float | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, ge=0)
    height: int | None = Field(default=None, ge=0)
    smart_tags: list[SmartTag] = Field(default_factory=list)
    manual_tags: TagList = Field(default_factory=list)
    promoted_tags: TagList = Field(default_factory=list)
    removed_tags: TagList = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    status: AssetStatus = AssetStatus.catalogued
    status_reason: str | None = None
    # processing record, written by the indexer
    content_hash: str | None = None
    fingerprint: str | None = None  # file, model and tagging settings: equal means unchanged
    model_id: str | None = None
    tagged_at: datetime | None = None
    library_root: str | None = None  # absolute folder `path` is relative to, when indexed
    # custom (trained) tags: which training run tagged this asset, when, and which content
    custom_run: str | None = None
    custom_tagged_at: datetime | None = None
    custom_content_hash: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_location(cls, data: Any, info: ValidationInfo) -> Any:
        if _stored(info) or not isinstance(data, dict) or not isinstance(data.get("path"), str):
            return data
        data = dict(data)
        path = normalize_path(data["path"])
        derived = {"folder": dirname(path), "file_name": basename(path)}
        for key, value in derived.items():
            given = data.get(key)
            if given not in (None, "") and normalize_folder(given) != value and given != value:
                raise ValueError(f"{key} {given!r} does not match path {path!r}")
        data.update(path=path, **derived)
        if not data.get("id"):
            data["id"] = asset_id_for_path(path)
        return data

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(k.strip() for k in value if k.strip()))

    @field_validator("created_at", "updated_at", "tagged_at", "custom_tagged_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _one_entry_per_tag(self, info: ValidationInfo) -> Asset:
        if _stored(info):
            return self
        best: dict[str, SmartTag] = {}
        for tag in self.smart_tags:
            _check_segments(tag)
            if tag.tag not in best or tag.confidence > best[tag.tag].confidence:
                best[tag.tag] = tag
        ordered = sorted(best.values(), key=lambda t: (-t.confidence, t.tag))
        object.__setattr__(self, "smart_tags", ordered)
        return self

    @classmethod
    def from_stored_json(cls, doc: str | bytes) -> Asset:
        """A document this program stored (see STORED); anything else goes through
        model_validate_json."""
        return cls.model_validate_json(doc, context=STORED)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON Lines form; import of this form gives back an equal asset."""
        return self.model_dump(mode="json")
