"""The API docs at /schema, served whole from this server: Swagger UI's script, styles and
icon come from the `swagger-ui-py` package (Swagger UI 5, which reads OpenAPI 3.1;
Apache-2.0), not from a CDN, so the page works on a clinic's closed network and its
Content-Security-Policy can name no other host."""

from __future__ import annotations

from importlib.resources import files

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

DOCS_PATH = "/schema"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# The inline script and style are the page Litestar renders (the spec is written into it).
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)


def docs_page() -> SwaggerRenderPlugin:
    """Swagger UI at /schema (and /schema/swagger), from the assets below."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def docs_assets() -> ControllerRouterHandler:
    """Swagger UI's files, from the installed package, outside the OpenAPI document."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[str(files("swagger_ui") / "static")],
        include_in_schema=False,
        opt={"public": True},
        # Versioned files that never change under a name: a day in the browser's cache (the
        # API's own answers stay `no-store`).
        cache_control=CacheControlHeader(max_age=86_400, public=True),
    )
