"""Who is calling: the web UI asks it to sign in and to show only the controls the role
may use."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from catalog.keys import Role
from query.auth import caller, role_router
from query.schemas import Me

read = role_router(Role.reader, tags=["auth"])
routers = [read]


@read.get("/auth/me", response_model=Me)
def who_am_i(request: Request) -> dict[str, Any]:
    """The key's name and role. With no key stored anyone may do everything: `anonymous`
    is true and the role is admin. 401 without a key (or with an unknown one) once a key
    exists."""
    found = caller(request)
    if found.role is None:
        return {"name": None, "role": Role.admin, "anonymous": True}
    return {"name": found.name, "role": found.role, "anonymous": False}
