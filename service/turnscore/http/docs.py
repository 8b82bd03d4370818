"""``/docs`` (Swagger UI) and ``/redoc`` with their JS, CSS and icon served by the service itself, from the
``fastapi-offline`` package: the pages work on a cluster with no internet access (no CDN, no web fonts, no
online validator badge). The assets are under ``/docs/assets/`` and are public whenever ``/docs`` is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = "/docs/assets"
log = logging.getLogger("turnscore.http")


def asset_dir() -> Path | None:
    """The folder of Swagger UI's and ReDoc's files shipped by ``fastapi-offline`` (None if not installed)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    path = Path(fastapi_offline.__file__).parent / "static"
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their assets to ``app`` (created with
    ``docs_url=None, redoc_url=None``). Without ``fastapi-offline`` (a dependency: a broken install), the
    pages load their assets from FastAPI's default CDN, with a warning."""
    static = asset_dir()
    if static is None:
        log.warning("fastapi-offline is not installed: /docs and /redoc load their assets from a CDN")
        assets = ""
    else:
        app.mount(ASSETS, StaticFiles(directory=static), name="docs-assets")
        assets = ASSETS
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_url = "/docs/oauth2-redirect"

    def files(request: Request, **names: str) -> dict[str, Any]:
        """Keyword arguments naming the local asset files (none without them: FastAPI's defaults)."""
        root = request.scope.get("root_path", "")
        return {arg: f"{root}{assets}/{name}" for arg, name in names.items()} if assets else {}

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + oauth2_url,
            swagger_ui_parameters={"validatorUrl": None},  # no badge from the online validator
            **files(
                request,
                swagger_js_url="swagger-ui-bundle.js",
                swagger_css_url="swagger-ui.css",
                swagger_favicon_url="favicon.png",
            ),
        )

    @app.get(oauth2_url, include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            with_google_fonts=False,
            **files(request, redoc_js_url="redoc.standalone.js", redoc_favicon_url="favicon.png"),
        )
