"""The API documentation page: Swagger UI served from our own files, so it works offline and under the CSP."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/vendor/swagger-ui"


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """Swagger UI with its script and styles from the `swagger-ui-bundle` package, started by a static
    module of ours that reads its settings from data-* attributes (no inline script)."""

    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(path=path)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        schema_url = escape(self.get_openapi_json_route(request))
        csrf = escape(request.scope.get("state", {}).get("csrf_token", ""))
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(openapi_schema["info"]["title"])} · API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
  <link rel="stylesheet" href="/static/css/apidocs.css">
</head>
<body>
  <div id="swagger-ui" data-schema-url="{schema_url}" data-csrf-token="{csrf}"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script src="/static/js/apidocs.js"></script>
</body>
</html>""".encode()


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[Path(str(swagger_ui_path))], include_in_schema=False
    )
