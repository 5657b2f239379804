"""The HTTP API (FastAPI): routers per resource, errors as clear 4xx/503, never a trace.

Light by design: it reads and moderates through the store and enqueues work for the workers
(catalog/queue.py); it never imports torch, open_clip or ffmpeg.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from catalog.queue import JobQueue
from catalog.settings import Settings, get_settings
from catalog.store import AssetStore, BackendUnavailable, StoreError
from catalog.stores import LazyStore
from query.metrics import install_metrics
from query.plan import InvalidQuery
from query.routes_assets import router as assets_router
from query.routes_curation import router as curation_router
from query.routes_health import router as health_router
from query.routes_jobs import router as jobs_router
from query.routes_search import router as search_router
from query.routes_training import router as training_router

log = logging.getLogger("smarttags.api")
VERSION = "0.2.0"


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
    settings: Settings | None = None,
    store: AssetStore | None = None,
    queue: JobQueue | None = None,
) -> FastAPI:
    """The API over `store` (default: the one the settings name, opened on first use)."""
    settings = settings or get_settings()
    stores = LazyStore(settings, store)
    jobs = queue or JobQueue(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()
        stores.close()

    # /docs and /redoc load Swagger UI and ReDoc from the app itself (fastapi-offline) and
    # ask no online validator: the docs work where the API has no internet access
    app = FastAPIOffline(
        lifespan=lifespan,
        title="smarttags",
        summary="Smart tags and Omnisearch for video and image libraries",
        version=VERSION,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.stores = stores
    app.state.queue = jobs
    for router in (
        search_router,
        assets_router,
        curation_router,
        jobs_router,
        training_router,
        health_router,
    ):
        app.include_router(router)
    install_metrics(app, settings, stores, jobs)
    _install_error_handlers(app)
    return app
