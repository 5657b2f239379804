"""Omnisearch over HTTP."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from catalog.asset import FOLDER_PATTERN, MediaType, TagKind
from catalog.keys import Role
from catalog.settings import Settings
from query.auth import role_router
from query.deps import SettingsDep, StoreDep
from query.errors import errors
from query.plan import SearchRequest
from query.schemas import SearchResult
from query.service import search


def build_router(settings: Settings) -> APIRouter:
    """The search route, its bounds those of `settings`: the schema states what the check
    enforces (a page past the result window is cut at the window, never refused)."""
    router = role_router(Role.reader, tags=["search"])

    @router.get("/search", response_model=SearchResult, responses=errors(422))
    def search_assets(
        store: StoreDep,
        settings: SettingsDep,
        q: Annotated[
            str,
            Query(
                description="query text; empty browses newest first",
                max_length=settings.max_query_chars,
            ),
        ] = "",
        limit: Annotated[
            int | None,
            Query(
                ge=1,
                le=settings.max_page_size,
                description=f"hits per page (default {settings.default_page_size})",
            ),
        ] = None,
        offset: Annotated[
            int,
            Query(
                ge=0,
                le=settings.max_result_window - 1,
                description=f"hits to skip; pages end at hit {settings.max_result_window}",
            ),
        ] = 0,
        folder: Annotated[
            str | None,
            Query(
                description="folder and its subfolders",
                json_schema_extra={"pattern": FOLDER_PATTERN},
            ),
        ] = None,
        type: Annotated[MediaType | None, Query(description="video or image")] = None,
        kind: Annotated[list[TagKind] | None, Query(description="tag kinds that match")] = None,
    ) -> JSONResponse:
        """Omnisearch: metadata AND-ed (tier 1), all terms in tags (tier 2), any term (tier 3).
        `total` is {"value", "relation"}: exact ("eq") up to 10,000 hits, a lower bound
        ("gte") beyond."""
        request = SearchRequest(q, folder, type, tuple(kind or ()), limit, offset)
        # the result is plain JSON already: a Response skips FastAPI's re-encoding of it
        return JSONResponse(search(store, request, settings, with_tags=True))

    return router
