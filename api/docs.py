"""The API's documentation pages and favicon, served from installed packages only.

``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from the ``fastapi-offline``
package's files under ``/docs-assets``, never from a CDN, so they work on a machine without
internet; ReDoc is told not to fetch web fonts.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
FAVICON = Path(__file__).parent / "static" / "favicon.svg"
PREFIX = "/docs-assets"


def install(app: FastAPI) -> None:
    """Add /docs, /redoc, their assets and /favicon.ico to an app built with docs turned off."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} — docs"
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            # No badge from the public validator: nothing on the page leaves the machine.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml", headers=_CACHE)


_CACHE = {"cache-control": "public, max-age=86400"}
