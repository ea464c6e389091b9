"""The planners' page at ``/`` and ``/docs``, served from files shipped in the package.

Both work without internet. FastAPI's default ``/docs`` page loads Swagger UI from a CDN: in a
control room without internet it is blank. :func:`install_docs` serves the vendored Swagger UI
5 (``static/swagger-ui``, see its ``SOURCE.md``) and MapLibre GL JS 5 (``static/maplibre``)
under :data:`STATIC_PREFIX`, a ``/docs`` page that loads Swagger UI from there, and the page
(``static/page``) at ``/``. Static files are public and not audited, like the docs themselves:
the page holds no data; everything it shows it asks of the API with the caller's key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Folder of the static files shipped with the package.
STATIC_DIR = Path(__file__).parent / "static"
#: URL prefix of the static files.
STATIC_PREFIX = "/static"
#: The vendored Swagger UI, under :data:`STATIC_PREFIX`.
SWAGGER_UI = f"{STATIC_PREFIX}/swagger-ui"
#: The page's entry file.
PAGE_INDEX = STATIC_DIR / "page" / "index.html"

#: What the page may load: its own files only (MapLibre runs its workers from ``blob:`` URLs
#: and draws the map into a canvas); no other origin, no inline script, no framing.
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; "
        "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def install_docs(app: FastAPI) -> None:
    """Mount the static files, the offline ``/docs`` page and the planners' page at ``/``."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE_INDEX, media_type="text/html", headers=PAGE_SECURITY_HEADERS)
