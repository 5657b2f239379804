"""The HTTP API (FastAPI): Omnisearch, assets, health. Starts without torch or ffmpeg."""

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from catalog.asset import MediaType, TagKind
from catalog.settings import Settings, get_settings
from catalog.store import AssetStore, BackendUnavailable, StoreError
from catalog.stores import open_store
from indexer.jobs import JobRunner
from query.plan import InvalidQuery, SearchRequest
from query.routes_curation import router as curation_router
from query.routes_media import router as media_router
from query.routes_training import router as training_router
from query.service import search, tag_listing

log = logging.getLogger("smarttags.api")


class StoreHolder:
    """Opens the store on first use, so the API starts (and says 503) while a backend is down."""

    def __init__(self, settings: Settings, store: AssetStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self._lock = threading.Lock()

    def get(self) -> AssetStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def get_store(request: Request) -> AssetStore:
    return request.app.state.stores.get()


StoreDep = Annotated[AssetStore, Depends(get_store)]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidQuery)
    async def _invalid(_: Request, exc: InvalidQuery) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(BackendUnavailable)
    async def _unavailable(_: Request, exc: BackendUnavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(status_code=500, content={"detail": "internal error (see the log)"})


def create_app(
    settings: Settings | None = None, store: AssetStore | None = None, schedule: bool = False
) -> FastAPI:
    """The API; `schedule` also runs training and custom tagging on their cron schedules."""
    settings = settings or get_settings()
    holder = StoreHolder(settings, store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if schedule:
            from indexer.scheduler import Scheduler

            scheduler = Scheduler(settings, app.state.jobs, holder.get)
            scheduler.start()
            for name, due in scheduler.next_runs().items():
                log.warning("scheduled %s: next run %s", name, due.isoformat(" ", "minutes"))
        app.state.scheduler = scheduler
        yield
        if scheduler is not None:
            scheduler.stop(settings.job_shutdown_timeout_s)
        app.state.jobs.close(settings.job_shutdown_timeout_s)
        holder.close()

    app = FastAPI(
        lifespan=lifespan,
        title="smarttags",
        summary="Smart tags and Omnisearch for video and image libraries",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.stores = holder
    app.state.jobs = JobRunner(settings)
    app.include_router(media_router)
    app.include_router(curation_router)
    app.include_router(training_router)
    _install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    def healthz(store: StoreDep) -> dict[str, Any]:
        """Liveness and backend reachability (503 when the backend is down)."""
        detail = store.check()
        return {"status": "ok", "backend": store.name, "detail": detail, "assets": store.count()}

    @app.get("/search", tags=["search"])
    def search_assets(
        store: StoreDep,
        q: Annotated[str, Query(description="query text; empty browses newest first")] = "",
        limit: Annotated[int | None, Query(ge=1, le=settings.max_page_size)] = None,
        offset: Annotated[int, Query(ge=0, le=settings.max_result_window)] = 0,
        folder: Annotated[str | None, Query(description="folder and its subfolders")] = None,
        type: Annotated[MediaType | None, Query(description="video or image")] = None,
        kind: Annotated[list[TagKind] | None, Query(description="tag kinds that match")] = None,
    ) -> JSONResponse:
        """Omnisearch: metadata AND-ed (tier 1), all terms in tags (tier 2), any term (tier 3).
        `total` is {"value", "relation"}: exact ("eq") up to 10,000 hits, a lower bound
        ("gte") beyond."""
        request = SearchRequest(q, folder, type, tuple(kind or ()), limit, offset)
        # the result is plain JSON already: a Response skips FastAPI's re-encoding of it
        return JSONResponse(search(store, request, settings, with_tags=True))

    @app.get("/schedule", tags=["training"])
    def schedule_status() -> dict[str, Any]:
        """Scheduled training and custom tagging: whether they run here, and when next."""
        scheduler = getattr(app.state, "scheduler", None)
        runs = scheduler.next_runs() if scheduler else {}
        return {
            "enabled": scheduler is not None,
            "training_cron": settings.training_cron,
            "tagging_cron": settings.tagging_cron,
            "next_runs": {name: due.isoformat() for name, due in runs.items()},
        }

    @app.get("/assets/{asset_id}", tags=["assets"])
    def get_asset(asset_id: str, store: StoreDep) -> dict[str, Any]:
        """One asset document, with its tags as search sees them."""
        asset = store.get(asset_id)
        if asset is None:
            raise HTTPException(status_code=404, detail=f"no asset with id {asset_id!r}")
        return {**asset.to_json_dict(), "tags": tag_listing(asset, settings)}

    return app
