"""Open the store the settings ask for."""

from __future__ import annotations

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
