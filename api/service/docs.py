"""``/docs`` served from files shipped in the package, so it works without internet.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN: in a control room without
internet it is blank. :func:`install_docs` serves the vendored Swagger UI 5 (``static/
swagger-ui``, see its ``SOURCE.md``) under :data:`STATIC_PREFIX` and a ``/docs`` page that
loads it from there. Static files are public and not audited, like the docs themselves.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Folder of the static files shipped with the package.
STATIC_DIR = Path(__file__).parent / "static"
#: URL prefix of the static files.
STATIC_PREFIX = "/static"
#: The vendored Swagger UI, under :data:`STATIC_PREFIX`.
SWAGGER_UI = f"{STATIC_PREFIX}/swagger-ui"


def install_docs(app: FastAPI) -> None:
    """Mount the static files and the offline ``/docs`` page (``app`` built with no docs)."""
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
