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
from starlette.concurrency import run_in_threadpool

from catalog.encoders import QueryEncoder
from catalog.keys import KeyStore
from catalog.queue import JobQueue
from catalog.settings import Settings, get_settings
from catalog.store import AssetStore, BackendUnavailable, StoreError
from catalog.stores import LazyStore
from query import (
    contract,
    routes_assets,
    routes_auth,
    routes_curation,
    routes_health,
    routes_jobs,
    routes_keys,
    routes_review,
    routes_search,
    routes_training,
    routes_webui,
)
from query.auth import LazyKeyRing, mark_public
from query.metrics import install_metrics
from query.plan import InvalidQuery
from query.semantic import availability

log = logging.getLogger("smarttags.api")
VERSION = "0.2.0"
# the docs pages and the assets fastapi-offline serves for them: public, like the schema
DOCS_PATHS = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static-offline-docs")


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


def _warm_up(stores: LazyStore, encoder: QueryEncoder) -> None:
    """Before the first request: load the query encoder and the store's indexes, so that
    the first search answers as fast as the next ones. A backend that is down is not an
    error here: requests will say so."""
    encoder.load()
    try:
        availability(stores.get(), encoder)  # counts the model's vectors: builds the indexes
    except StoreError as exc:
        log.warning("the store is not ready yet: %s", exc)


def create_app(
    settings: Settings | None = None,
    store: AssetStore | None = None,
    queue: JobQueue | None = None,
    keys: KeyStore | None = None,
    encoder: QueryEncoder | None = None,
) -> FastAPI:
    """The API over `store` (default: the one the settings name, opened on first use).
    `encoder`: what turns query texts and pictures into embeddings (the composition root
    gives one; without it every search is a keyword search)."""
    settings = settings or get_settings()
    stores = LazyStore(settings, store)
    jobs = queue or JobQueue(settings)
    key_ring = LazyKeyRing(settings, keys)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if encoder is not None:
            await run_in_threadpool(_warm_up, stores, encoder)
        yield
        jobs.close()
        key_ring.close()
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
    app.state.keys = key_ring
    app.state.encoder = encoder
    app.state.public_paths = set()
    # every router declares its role (query/auth.py); the docs are public: the contract
    for path in DOCS_PATHS:
        mark_public(app, path)
    body_limit = settings.api_max_body_kb * 1024
    search, by_picture = routes_search.build_router(settings)
    app.include_router(search, max_body_size=body_limit)
    app.include_router(by_picture)  # streams the picture, with its own limit
    modules = (routes_assets, routes_curation, routes_review, routes_jobs, routes_training)
    for module in (*modules, routes_keys, routes_auth):
        for router in module.routers:
            app.include_router(router, max_body_size=body_limit)
    app.include_router(routes_assets.upload)  # streams, with its own limit
    app.include_router(routes_health.public, max_body_size=body_limit)
    install_metrics(app, settings, stores, jobs)
    routes_webui.install(app)
    _install_error_handlers(app)
    contract.install(app, settings)
    return app
