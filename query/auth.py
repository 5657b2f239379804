"""Access: every route declares one role (or that it is public), checked against API keys.

Roles are reader < editor < admin (catalog/keys.py). Each router is made by `role_router`, so
the role is declared once for all its routes; `tests/test_access.py` walks every route of the
app and fails on one without a role.

With no key stored, everyone may do everything and the actor in the audit log is
`api:<client host>` (`smarttags serve` refuses a non-loopback address then, unless told
`--allow-anonymous`). Once a key exists, every route but the public ones needs a key, sent as
`X-API-Key: KEY` or `Authorization: Bearer KEY`: 401 without one or with an unknown one, 403
when its role is too small. The actor is then `key:<name>`, never the key.

Public routes: /healthz (load balancers), and the API docs (/docs, /redoc, /openapi.json: the
published contract, which Swagger UI must load before a user can enter a key). A web UI's
static files are made public with `mark_public(app, prefix)`; their API calls carry the key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from catalog.keys import KeyRing, KeyStore, Role, open_key_store
from catalog.settings import Settings
from query.errors import errors

API_KEY_HEADER = "X-API-Key"
UNKNOWN_HOST = "unknown"
PUBLIC = "public"  # the access of a route that needs no key

# auto_error off: with no keys stored the headers are optional; `require` decides
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey", description="an API key"
)
_bearer = HTTPBearer(
    auto_error=False, scheme_name="BearerKey", description="an API key as a bearer token"
)


@dataclass(frozen=True)
class Caller:
    actor: str  # what the audit log and job records say: key:<name>, or api:<host>
    role: Role | None  # None: anonymous, allowed everything because no key exists
    name: str | None = None  # the key's name; None: anonymous


class LazyKeyRing:
    """Opens the key store on first use (a process starts while the backend is down)."""

    def __init__(self, settings: Settings, keys: KeyStore | None = None) -> None:
        self._settings = settings
        self._keys = keys
        self._ring: KeyRing | None = None
        self._lock = threading.Lock()

    def get(self) -> KeyRing:
        with self._lock:
            if self._ring is None:
                keys = self._keys or open_key_store(self._settings)
                self._ring = KeyRing(keys, self._settings.key_cache_s)
            return self._ring

    def close(self) -> None:
        if self._ring is not None:
            self._ring.close()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        401, detail, headers={"WWW-Authenticate": f'Bearer, ApiKey header="{API_KEY_HEADER}"'}
    )


def _secret(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return api_key or (bearer.credentials if bearer else None)


def require(role: Role) -> Callable[..., Caller]:
    """The dependency that lets a request through when its key's role allows `role`."""

    def check(
        request: Request,
        api_key: Annotated[str | None, Security(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> Caller:
        ring: KeyRing = request.app.state.keys.get()
        if not ring.enabled():
            host = request.client.host if request.client else UNKNOWN_HOST
            caller = Caller(f"api:{host}", None)
        else:
            secret = _secret(api_key, bearer)
            if not secret:
                raise _unauthorized(
                    f"an API key is required: send {API_KEY_HEADER}: KEY or "
                    "Authorization: Bearer KEY"
                )
            key = ring.find(secret)
            if key is None:
                raise _unauthorized("unknown API key (revoked, or mistyped)")
            caller = Caller(f"key:{key.name}", key.role, key.name)
            _allow(caller, role)
        request.state.caller = caller
        return caller

    check.access = role  # type: ignore[attr-defined]  # read by the route walk
    return check


def _public() -> None:
    """Declares a route public: it needs no key, even when keys exist."""


_public.access = PUBLIC  # type: ignore[attr-defined]


def _allow(caller: Caller, role: Role) -> None:
    if caller.role is not None and not caller.role.allows(role):
        raise HTTPException(
            403, f"this needs the {role.value} role; the key {caller.actor} is {caller.role.value}"
        )


def role_router(role: Role | None, **kwargs: Any) -> APIRouter:
    """A router whose routes all need `role` (None: public routes)."""
    if role is None:
        return APIRouter(dependencies=[Depends(_public)], **kwargs)
    # 400/422: every route answers the one error body for a request it cannot read or that
    # fails validation
    responses = {**errors(400, 401, 403, 422, 503), **kwargs.pop("responses", {})}
    return APIRouter(dependencies=[Depends(require(role))], responses=responses, **kwargs)


def route_access(dependencies: list[Any]) -> list[Any]:
    """The accesses (roles, or PUBLIC) that a route's dependencies declare."""
    return [a for d in dependencies if (a := getattr(d.dependency, "access", None)) is not None]


def caller(request: Request) -> Caller:
    found = getattr(request.state, "caller", None)
    if found is None:  # a route without a role router: a programming error, never anonymous
        raise RuntimeError(f"{request.url.path} declares no role")
    return found


def actor(request: Request) -> str:
    return caller(request).actor


def escalate(request: Request, role: Role) -> None:
    """Require a larger role than the route's own for this request (e.g. a whole-library
    reprocess on an editor route): 403 otherwise."""
    _allow(caller(request), role)


def mark_public(app: FastAPI, path: str) -> None:
    """Declare a non-API route public (the docs, a web UI's static files)."""
    app.state.public_paths.add(path)


Actor = Annotated[str, Depends(actor)]
