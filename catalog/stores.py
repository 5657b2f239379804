"""Open the store the settings ask for."""

from __future__ import annotations

import threading

from catalog.settings import BackendName, Settings
from catalog.store import AssetStore, BackendUnavailable


def open_store(settings: Settings, backend: BackendName | None = None) -> AssetStore:
    chosen = backend or settings.effective_backend
    if chosen == "opensearch":
        if not settings.opensearch_url:
            raise BackendUnavailable(
                "the OpenSearch backend needs a URL: set SMARTTAGS_OPENSEARCH_URL "
                "(e.g. http://localhost:9200)"
            )
        from catalog.opensearch_store import OpenSearchStore

        return OpenSearchStore(settings)
    from catalog.sqlite_store import SqliteStore

    return SqliteStore(settings)


class LazyStore:
    """Opens the store on first use, so a process starts (and answers 503) while the backend
    is down, and every thread of the process shares one store."""

    def __init__(self, settings: Settings, store: AssetStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self._lock = threading.Lock()

    def get(self) -> AssetStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
