"""The web UI: static files (query/webui/, package data), public like the API docs.

`/` is the app's page; `/ui/...` its scripts, styles and icons. No build step and nothing
from another host: the page works offline. Its API calls carry the key the user signed in
with (query/webui/js/api.js); the Content-Security-Policy lets it load and call nothing but
this server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from query.auth import mark_public

WEBUI_DIR = Path(__file__).with_name("webui")
PAGE = WEBUI_DIR / "index.html"
STATIC_PREFIX = "/ui"
# blob: and data: URLs are how posters and media fetched with the key are shown
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # the page names the current scripts
}


def install(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE, media_type="text/html", headers=PAGE_HEADERS)

    app.mount(STATIC_PREFIX, StaticFiles(directory=WEBUI_DIR), name="webui")
    mark_public(app, "/")
    mark_public(app, STATIC_PREFIX)
