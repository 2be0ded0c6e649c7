"""The API docs at /schema, served whole from this server: Swagger UI's script, styles and
icon come from the `swagger-ui-py` package (Swagger UI 5, which reads OpenAPI 3.1;
Apache-2.0), not from a CDN, so the page works on a clinic's closed network and its
Content-Security-Policy can name no other host."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File

DOCS_PATH = "/schema"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# The inline script and style are the page Litestar renders (the spec is written into it).
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)
# Only the files the page uses: the package also holds Swagger Editor, source maps, a demo
# initializer and an OAuth redirect page, none of which this server should offer.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_FOLDER = Path(str(files("swagger_ui") / "static"))


def docs_page() -> SwaggerRenderPlugin:
    """Swagger UI at /schema (and /schema/swagger), from the assets below."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


# Versioned files that never change under a name: a day in the browser's cache (the API's
# own answers stay `no-store`).
@get(
    f"{ASSETS_PATH}/{{name:str}}",
    include_in_schema=False,
    opt={"public": True},
    cache_control=CacheControlHeader(max_age=86_400, public=True),
    sync_to_thread=False,
)
def docs_asset(name: FromPath[str]) -> File:
    """One of Swagger UI's files; any other name is a 404."""
    if name not in _ASSETS:
        raise NotFoundException(f"No docs file named {name!r}.")
    return File(path=_FOLDER / name, filename=name, media_type=_ASSETS[name], content_disposition_type="inline")
