"""What the API promises beyond each route: one error body, and bounded request bodies.

- A request that fails validation answers 422 with the error body of query/errors.py: a
  one-line `detail` and the problems in `errors`.
- A JSON body over `api_max_body_kb` is refused with 413 as it arrives (FastAPI's
  `max_body_size`, given to every router but the upload's, which streams with its own limit:
  query/uploads.py), never read whole.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


def install(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=_validation_body(exc))
