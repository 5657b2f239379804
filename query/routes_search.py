"""Omnisearch over HTTP: by text (three modes), like an asset, like a picture; moments."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from catalog.asset import FOLDER_PATTERN, MediaType, TagKind
from catalog.encoders import EncoderUnavailable, UnreadableImage
from catalog.keys import Role
from catalog.media_sniff import media_type_of, sniff
from catalog.settings import Settings
from query.auth import role_router
from query.deps import EncoderDep, SettingsDep, StoreDep
from query.errors import errors
from query.plan import SearchMode, SearchRequest
from query.routes_assets import AssetId
from query.schemas import MomentsResult, SearchResult
from query.service import NotIndexed, asset_moments, by_image, search, similar
from query.uploads import (
    FileLimit,
    boundary_of,
    check_declared_length,
    multipart_form,
    read_form,
    refuse,
)

QUERY_STAGING = "queries"  # under <data dir>/tmp: example pictures while they are encoded

# The picture is read from the stream (query/uploads.py), so the form is declared here.
BY_IMAGE_FORM = multipart_form(
    "a picture (JPEG, PNG, WebP, GIF, TIFF, BMP), up to SMARTTAGS_QUERY_IMAGE_MAX_MB"
)


def _image_limit(settings: Settings) -> FileLimit:
    return FileLimit(settings.query_image_max_mb, "SMARTTAGS_QUERY_IMAGE_MAX_MB")


def build_router(settings: Settings) -> tuple[APIRouter, APIRouter]:
    """The search routes, their bounds those of `settings`: the schema states what the check
    enforces (a page past the result window is cut at the window, never refused). The
    second router streams its body with its own limit (search by picture)."""
    router = role_router(Role.reader, tags=["search"])
    streamed = role_router(Role.reader, tags=["search"])

    Limit = Annotated[
        int | None,
        Query(
            ge=1,
            le=settings.max_page_size,
            description=f"hits per page (default {settings.default_page_size})",
        ),
    ]
    Offset = Annotated[
        int,
        Query(
            ge=0,
            le=settings.max_result_window - 1,
            description=f"hits to skip; pages end at hit {settings.max_result_window}",
        ),
    ]
    Folder = Annotated[
        str | None,
        Query(
            description="folder and its subfolders",
            json_schema_extra={"pattern": FOLDER_PATTERN},
        ),
    ]
    Type = Annotated[MediaType | None, Query(description="video or image")]

    @router.get("/search", response_model=SearchResult, responses=errors(422))
    def search_assets(
        store: StoreDep,
        settings: SettingsDep,
        encoder: EncoderDep,
        q: Annotated[
            str,
            Query(
                description="query text; empty browses newest first",
                max_length=settings.max_query_chars,
            ),
        ] = "",
        mode: Annotated[
            SearchMode | None,
            Query(
                description="hybrid: the term tiers, then tier 4, assets similar in meaning; "
                "keyword: the term tiers only; semantic: similarity alone "
                f"(default {settings.search_mode})"
            ),
        ] = None,
        limit: Limit = None,
        offset: Offset = 0,
        folder: Folder = None,
        type: Type = None,
        kind: Annotated[list[TagKind] | None, Query(description="tag kinds that match")] = None,
    ) -> JSONResponse:
        """Omnisearch: metadata AND-ed (tier 1), all terms in tags (tier 2), any term (tier 3),
        then, in hybrid mode, assets no term matches whose embedding is similar to the text's
        (tier 4). `mode` says the mode used: hybrid and semantic run as keyword while the
        model's embeddings or the text encoder are missing (`semantic` says why). `total` is
        {"value", "relation"}: exact ("eq") up to 10,000 hits, a lower bound ("gte") beyond."""
        request = SearchRequest(q, folder, type, tuple(kind or ()), limit, offset, mode)
        # the result is plain JSON already: a Response skips FastAPI's re-encoding of it
        return JSONResponse(search(store, request, settings, with_tags=True, encoder=encoder))

    @router.get(
        "/assets/{asset_id}/similar", response_model=SearchResult, responses=errors(404, 409)
    )
    def similar_assets(
        asset_id: AssetId,
        store: StoreDep,
        settings: SettingsDep,
        limit: Limit = None,
        offset: Offset = 0,
        folder: Folder = None,
        type: Type = None,
    ) -> JSONResponse:
        """The assets nearest to this one by embedding (cosine of the asset vectors), itself
        left out; videos carry their moments. 409 when the asset has no embeddings."""
        request = SearchRequest("", folder, type, (), limit, offset)
        try:
            result = similar(store, asset_id, request, settings, with_tags=True)
        except NotIndexed as exc:
            raise HTTPException(409, str(exc)) from None
        except KeyError:
            raise HTTPException(404, f"no asset with id {asset_id!r}") from None
        return JSONResponse(result)

    @router.get(
        "/assets/{asset_id}/moments", response_model=MomentsResult, responses=errors(404)
    )
    def moments_of_asset(
        asset_id: AssetId,
        store: StoreDep,
        settings: SettingsDep,
        encoder: EncoderDep,
        q: Annotated[
            str,
            Query(min_length=1, max_length=settings.max_query_chars, description="query text"),
        ],
    ) -> dict:
        """Where in this video the text matches best, best first (empty when the asset has no
        frame embeddings); 503 without a text encoder."""
        try:
            return asset_moments(store, asset_id, q, settings, encoder)
        except KeyError:
            raise HTTPException(404, f"no asset with id {asset_id!r}") from None
        except EncoderUnavailable as exc:
            raise HTTPException(503, str(exc)) from None

    @streamed.post(
        "/search/by-image",
        response_model=SearchResult,
        responses=errors(413, 415),
        openapi_extra=BY_IMAGE_FORM,
    )
    async def search_by_image(
        request: Request,
        store: StoreDep,
        settings: SettingsDep,
        encoder: EncoderDep,
        limit: Limit = None,
        offset: Offset = 0,
        folder: Folder = None,
        type: Type = None,
    ) -> JSONResponse:
        """The assets nearest to a picture by embedding; videos carry their moments.

        The picture is read as it arrives and refused at SMARTTAGS_QUERY_IMAGE_MAX_MB (413),
        when it is not a picture by its content (415), or empty or undecodable (422); 503
        when this server has no image encoder. Nothing of it is kept."""
        limit_ = _image_limit(settings)
        check_declared_length(request.headers, settings, limit_)
        boundary = boundary_of(request.headers.get("content-type"))
        staging = settings.data_dir / "tmp" / QUERY_STAGING
        form = await read_form(request.stream(), boundary, settings, limit_, staging)
        try:
            if form.size == 0:
                raise refuse(422, "the file is empty")
            if media_type_of(sniff(form.head)) is not MediaType.image:
                raise refuse(415, "the file is not a picture we can search with (by its content)")
            query = SearchRequest("", folder, type, (), limit, offset)
            result = await run_in_threadpool(
                by_image, store, form.staged, query, settings, encoder, True
            )
        except UnreadableImage as exc:
            raise refuse(422, str(exc)) from None
        except EncoderUnavailable as exc:
            raise HTTPException(503, str(exc)) from None
        finally:
            form.discard()
        return JSONResponse(result)

    return router, streamed
