"""The audit log: who changed which tag of which asset, or which folder setting, when, from
what to what.

A folder-setting change is an entry with action `folder`: its `asset_id` is
`folder_subject(folder)` (`folder:/<folder>`, never a valid asset id), `tag` the media type
(video or image) and `before`/`after` the folder's own setting (inherit, enable, disable).

A metadata edit is an entry with action `edit`: `tag` is the field (title, description or
keywords) and `before`/`after` its text (keywords joined by ", "), cut to
SMARTTAGS_AUDIT_VALUE_CHARS.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from catalog.asset import utc_now
from catalog.folders import Toggle

FOLDER_SUBJECT = "folder:/"


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
    folder = "folder"  # a folder's smart-tag setting changed
    edit = "edit"  # the asset's title, description or keywords changed


# what `undo` reverts: the tag moderations (not metadata edits, nor undos themselves)
UNDOABLE = frozenset(
    (
        ModerationAction.remove,
        ModerationAction.promote,
        ModerationAction.add,
        ModerationAction.restore,
    )
)
# a tag's state, a folder's setting, or (edits) the field's text; tried in this order, so
# the states keep their enum types
AuditValue = Annotated[TagState | Toggle | str, Field(union_mode="left_to_right")]


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = Field(default_factory=utc_now)
    asset_id: str
    action: ModerationAction
    tag: str
    before: AuditValue
    after: AuditValue
    actor: str
    undoes: str | None = None  # the entry an `undo` reverted


def folder_subject(folder: str) -> str:
    """The `asset_id` of a folder's audit entries ('' is the library root)."""
    return FOLDER_SUBJECT + folder
