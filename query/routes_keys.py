"""API keys over HTTP (admin): list, make, revoke. The first key comes from the CLI
(`smarttags keys add`); until one exists every route is open anyway."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from catalog.keys import NAME_PATTERN, KeyExists, KeyRing, Role, check_name, create_key
from query.auth import role_router
from query.errors import errors
from query.schemas import KeyList, NewKey

admin = role_router(Role.admin, tags=["keys"])
routers = [admin]


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="who holds the key (the audit log's)")
    role: Role


def _ring(request: Request) -> KeyRing:
    return request.app.state.keys.get()


@admin.get("/keys", response_model=KeyList)
def list_keys(request: Request) -> dict[str, Any]:
    """Every key's name, role and creation time (never the key: only its digest is stored)."""
    return {"keys": [k.public() for k in _ring(request).store.list()]}


@admin.post("/keys", status_code=201, response_model=NewKey, responses=errors(409, 413, 422))
def add_key(request: Request, body: KeyRequest) -> dict[str, Any]:
    """Make a key; the answer shows it this once."""
    ring = _ring(request)
    try:
        record, secret = create_key(ring.store, body.name, body.role)
    except KeyExists as exc:
        raise HTTPException(409, str(exc)) from None
    ring.forget()
    return {"name": record.name, "role": record.role, "key": secret}


@admin.delete("/keys/{name}", status_code=204, response_class=Response, responses=errors(404))
def revoke_key(
    request: Request,
    name: Annotated[str, Path(json_schema_extra={"pattern": NAME_PATTERN})],
) -> Response:
    """Revoke a key: it stops working at once in this process, within
    SMARTTAGS_KEY_CACHE_S in the others."""
    ring = _ring(request)
    try:
        check_name(name)
    except ValueError:
        raise HTTPException(404, f"no key named {name[:64]!r}") from None
    if not ring.store.revoke(name):
        raise HTTPException(404, f"no key named {name!r}")
    ring.forget()
    return Response(status_code=204)
