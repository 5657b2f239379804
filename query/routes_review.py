"""The review queue of suggested tags, and the per-tag thresholds (readers).

A verdict on a suggestion is a moderation (editors): `POST /assets/{id}/tags` with
`{"action": "add", "tag"}` accepts it (a manual tag), `{"action": "remove", "tag"}` rejects it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Query

from catalog.asset import FOLDER_PATTERN
from catalog.keys import Role
from catalog.settings import Settings
from query import review
from query.auth import role_router
from query.deps import SettingsDep, StoreDep
from query.errors import errors
from query.schemas import ReviewQueue, TagThresholds

read = role_router(Role.reader)
routers = [read]
_MAX_PAGE = Settings.model_fields["max_page_size"].default


@read.get("/review", tags=["review"], response_model=ReviewQueue, responses=errors(422))
def review_queue(
    store: StoreDep,
    settings: SettingsDep,
    limit: Annotated[
        int | None,
        Query(ge=1, le=_MAX_PAGE, description="items per page (default 20)"),
    ] = None,
    offset: Annotated[int, Query(ge=0, description="items to skip")] = 0,
    folder: Annotated[
        str | None,
        Query(
            description="only assets in this folder and its subfolders",
            json_schema_extra={"pattern": FOLDER_PATTERN},
        ),
    ] = None,
) -> dict[str, Any]:
    """Suggested tags (machine candidates below their threshold, not curated) on the assets
    tagged last, the most uncertain first (closest below its threshold). Accept one with
    `POST /assets/{id}/tags {"action": "add", "tag"}`, reject it with `"remove"`: both
    teach the tag's threshold."""
    try:
        return review.review_queue(store, settings, limit, offset, folder)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@read.get("/tags/thresholds", tags=["review"], response_model=TagThresholds)
def tag_thresholds(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Each tag with curation feedback: the confidence its machine tags need, its evidence
    (positives, negatives) and its source (`learned`, or its kind's `default` while the
    evidence is short); and each kind's threshold."""
    return review.threshold_table(store, settings)
