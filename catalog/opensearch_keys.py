"""API keys (digests only) in OpenSearch: the side index `<alias>-keys`.

One document per key, its id the key's name; a new key is written with op_type=create, so a
name is never taken twice. Every write refreshes: a key added or revoked counts at once.
"""

from __future__ import annotations

from typing import Any

from catalog.keys import ApiKey
from catalog.opensearch_store import OpenSearchSide, VersionConflict

KEYS = "keys"
_MAX_KEYS = 10_000  # one page lists them all; a deployment has a few dozen


class OpenSearchKeyStore(OpenSearchSide):
    @property
    def _index(self) -> str:
        return self._store.side_index(KEYS)

    def _call(self, request: Any, /, **kwargs: Any) -> Any:
        return self._store.call(request, **kwargs)

    def check(self) -> str:
        return f"API keys in {self._index} on {self._store.url}"

    def add(self, key: ApiKey) -> bool:
        try:
            self._call(
                self._store.client.index,
                index=self._index,
                id=key.name,
                body=key.model_dump(mode="json"),
                refresh=True,
                op_type="create",
            )
        except VersionConflict:
            return False
        return True

    def list(self) -> list[ApiKey]:
        body = {"query": {"match_all": {}}, "sort": [{"name": "asc"}], "size": _MAX_KEYS}
        response = self._call(self._store.client.search, index=self._index, body=body)
        return [ApiKey.model_validate(h["_source"]) for h in response["hits"]["hits"]]

    def revoke(self, name: str) -> bool:
        response = self._call(
            self._store.client.delete, index=self._index, id=name, refresh=True, ignore=404
        )
        return response.get("result") == "deleted"
