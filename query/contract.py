"""What the API promises beyond each route: one error body, and bounded request bodies.

- A method a path does not have answers 405 with `Allow` listing every method of the path
  (Starlette would list only those of the first route that matched the path).
- A request that fails validation answers 422 with the error body of query/errors.py: a
  one-line `detail` and the problems in `errors`.
- A JSON body over `api_max_body_kb` is refused with 413 as it arrives (FastAPI's
  `max_body_size`, given to every router but the upload's, which streams with its own limit:
  query/uploads.py), never read whole.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog.settings import Settings


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    problems = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e["loc"]],
            "msg": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{_where(tuple(p['loc']))}: {p['msg']}" for p in problems)
    return {"detail": detail or "the request is not valid", "errors": problems}


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the resource at `path`: of the most specific route template that
    matches it (`/assets/{id}/tags/undo` rather than `/assets/{id}/tags/{tag}`), as the
    OpenAPI schema groups operations."""
    by_template: dict[str, set[str]] = {}
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "original_route", context)
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and getattr(route, "methods", None):
            by_template.setdefault(route.path, set()).update(route.methods)
    if not by_template:
        return []
    specific = min(by_template, key=lambda t: (t.count("{"), -len(t)))
    return sorted(by_template[specific])


def install(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=_validation_body(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(app, request.url.path))
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": allow})
        return await http_exception_handler(request, exc)
