"""Omnisearch over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from catalog.asset import MediaType, TagKind
from catalog.settings import Settings
from query.deps import SettingsDep, StoreDep
from query.plan import SearchRequest
from query.service import search

router = APIRouter(tags=["search"])
# the schema states the default bounds; each request is checked against the live settings
_MAX_PAGE = Settings.model_fields["max_page_size"].default
_MAX_WINDOW = Settings.model_fields["max_result_window"].default


@router.get("/search")
def search_assets(
    store: StoreDep,
    settings: SettingsDep,
    q: Annotated[str, Query(description="query text; empty browses newest first")] = "",
    limit: Annotated[int | None, Query(ge=1, le=_MAX_PAGE)] = None,
    offset: Annotated[int, Query(ge=0, le=_MAX_WINDOW)] = 0,
    folder: Annotated[str | None, Query(description="folder and its subfolders")] = None,
    type: Annotated[MediaType | None, Query(description="video or image")] = None,
    kind: Annotated[list[TagKind] | None, Query(description="tag kinds that match")] = None,
) -> dict[str, Any]:
    """Omnisearch: metadata AND-ed (tier 1), all terms in tags (tier 2), any term (tier 3)."""
    request = SearchRequest(q, folder, type, tuple(kind or ()), limit, offset)
    return search(store, request, settings, with_tags=True)
