"""Who makes a mutating request: an API key's name, or the client address when keys are off.

With `settings.api_keys` (name -> key) non-empty, a mutating request must send one of the
keys in the `X-API-Key` header (401 otherwise). The audit log records `key:<name>`, never the
key. With no keys configured, anyone may write and the actor is `api:<client host>`.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "X-API-Key"
UNKNOWN_HOST = "unknown"

# auto_error off: with no keys configured the header is optional; `actor` decides
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


def key_name(keys: dict[str, str], given: str) -> str | None:
    """The name of the key `given` is, comparing in constant time against every key."""
    found = None
    offered = given.encode()
    for name, key in keys.items():
        # no early exit: the time taken must not tell which key (or how much of one) matched
        if hmac.compare_digest(offered, key.encode()) and found is None:
            found = name
    return found


def actor(
    request: Request, api_key: Annotated[str | None, Security(_api_key_header)] = None
) -> str:
    """The actor of a mutating request; 401 without a valid key when keys are configured."""
    keys: dict[str, str] = request.app.state.settings.api_keys
    if not keys:
        host = request.client.host if request.client else UNKNOWN_HOST
        return f"api:{host}"
    name = key_name(keys, api_key) if api_key else None
    if name is None:
        raise HTTPException(
            status_code=401,
            detail=f"a valid API key is required in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    return f"key:{name}"


Actor = Annotated[str, Depends(actor)]
