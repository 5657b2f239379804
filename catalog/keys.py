"""API keys and roles: who may call which route of the HTTP API.

A key is a random secret (`secrets.token_urlsafe`, 256 bits) shown once when it is made. The
store keeps only its SHA-256 digest, beside the catalog (catalog/sqlite_keys.py, or the
`<alias>-keys` index in OpenSearch: catalog/opensearch_keys.py), so every API process of a
deployment sees the same keys and a copy of the store gives no working key away.

Why a plain SHA-256 and not a password hash (bcrypt, argon2): a password hash is slow on
purpose, to make guessing low-entropy secrets expensive. These keys carry 256 random bits;
nobody can guess them either way, and a fast digest lets each request find its key with one
lookup instead of a slow hash per stored key.

Roles are ordered: reader < editor < admin; each may do what the ones below it may.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from catalog.settings import Settings

KEY_PREFIX = "st_"  # tells a smarttags key apart in configs and secret scanners
KEY_BYTES = 32
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class Role(StrEnum):
    reader = "reader"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.reader: 0, Role.editor: 1, Role.admin: 2}


class KeyExists(ValueError):
    """A key of that name exists already."""


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ApiKey(BaseModel):
    """A stored key: its name, role and digest; never the key itself."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    digest: str  # hex SHA-256 of the key
    created_at: datetime = Field(default_factory=_utc_now)

    def public(self) -> dict[str, str]:
        """What `keys list` and `GET /keys` show."""
        return {
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at.isoformat(),
        }


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            "a key name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class KeyStore(Protocol):
    """API keys (digests only); every process of a deployment sees the same."""

    def add(self, key: ApiKey) -> bool:
        """Store a new key; False when one of that name exists."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key, by name."""
        ...

    def revoke(self, name: str) -> bool:
        """Delete the key; False when there is none of that name."""
        ...

    def check(self) -> str: ...

    def close(self) -> None: ...


def create_key(keys: KeyStore, name: str, role: Role) -> tuple[ApiKey, str]:
    """A new key of `role`: the stored record and the secret (shown once, never stored)."""
    secret = new_secret()
    record = ApiKey(name=check_name(name), role=role, digest=digest(secret))
    if not keys.add(record):
        raise KeyExists(f"a key named {name!r} exists already; revoke it first")
    return record, secret


def migrate_legacy_keys(keys: KeyStore, legacy: dict[str, str]) -> list[str]:
    """Store the keys of the old `SMARTTAGS_API_KEYS` setting (name -> key) as admin keys,
    the power they had; returns the names stored now (the others were there already)."""
    stored = []
    for name, secret in legacy.items():
        if keys.add(ApiKey(name=check_name(name), role=Role.admin, digest=digest(secret))):
            stored.append(name)
    return stored


class KeyRing:
    """The keys as the API checks them: read from the store at most every `ttl_s` seconds,
    so a request costs a dictionary lookup and a revoked key stops working within `ttl_s`."""

    def __init__(self, keys: KeyStore, ttl_s: float, clock=time.monotonic) -> None:
        self._keys = keys
        self._ttl = ttl_s
        self._clock = clock
        self._by_digest: dict[str, ApiKey] | None = None
        self._read_at = 0.0

    def _current(self) -> dict[str, ApiKey]:
        now = self._clock()
        if self._by_digest is None or now - self._read_at >= self._ttl:
            self._by_digest = {k.digest: k for k in self._keys.list()}
            self._read_at = now
        return self._by_digest

    @property
    def store(self) -> KeyStore:
        return self._keys

    def forget(self) -> None:
        """Read the store again at the next check (after this process changed it)."""
        self._by_digest = None

    def enabled(self) -> bool:
        """Whether any key exists (then every route but /healthz needs one)."""
        return bool(self._current())

    def find(self, secret: str) -> ApiKey | None:
        return self._current().get(digest(secret))

    def close(self) -> None:
        self._keys.close()


def open_key_store(settings: Settings) -> KeyStore:
    """Keys beside the catalog: OpenSearch when it is the backend, else SQLite."""
    if settings.effective_backend == "opensearch":
        from catalog.opensearch_keys import OpenSearchKeyStore

        store: KeyStore = OpenSearchKeyStore(settings)
    else:
        from catalog.sqlite_keys import SqliteKeyStore

        store = SqliteKeyStore(settings)
    if settings.api_keys:
        migrate_legacy_keys(store, settings.api_keys)
    return store
