"""The one error body every route answers with, and how routes declare their error statuses.

Every error is `{"detail": "<one line for a person>"}`; a request that fails validation also
lists each problem in `errors` (where, what, why). Routes declare the statuses they can answer
with `errors(...)`, so the OpenAPI schema lists them (the role routers add 401 and 403).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: str
    errors: list[FieldError] | None = None


_MEANING = {
    400: "The body cannot be read (not UTF-8)",
    401: "No API key, or an unknown one (only when keys exist)",
    403: "The key's role may not do this",
    404: "Not found",
    409: "Conflicts with the current state (the detail says how to proceed)",
    413: "The request body is over its size limit",
    415: "The uploaded file is not a video or image we tag",
    416: "The requested byte range lies outside the file (Content-Range says its size)",
    422: "The request is not valid (the detail says why)",
    503: "The store or the queue cannot be reached",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer these error statuses."""
    return {code: {"model": ErrorBody, "description": _MEANING[code]} for code in codes}
