"""The moderation audit log: who changed which tag of which asset, when, from what to what."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from catalog.asset import utc_now


class TagState(StrEnum):
    """Where a tag name stands in an asset's curation overlay (exclusive)."""

    none = "none"  # not curated: the machine tag, if any, shows as computed
    removed = "removed"
    manual = "manual"
    promoted = "promoted"


class ModerationAction(StrEnum):
    remove = "remove"
    promote = "promote"
    add = "add"
    restore = "restore"
    undo = "undo"


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = Field(default_factory=utc_now)
    asset_id: str
    action: ModerationAction
    tag: str
    before: TagState
    after: TagState
    actor: str
    undoes: str | None = None  # the entry an `undo` reverted
