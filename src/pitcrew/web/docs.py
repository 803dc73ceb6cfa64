"""The API reference, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), from files pitcrew installs.

FastAPI's own pages load their viewers from a CDN, so on a machine without internet they are
blank. Here the viewers come from the ``fastapi-offline`` package, mounted under
``/docs/assets``, and each page is started by a small script of ours from ``/static`` instead of
an inline one, so the pages run under a policy that allows scripts from this server only.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the reference pages and their viewers (the app is made with docs_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    app.include_router(router)


def _page(request: Request, title: str, head: str, body: str) -> HTMLResponse:
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(request.app.title)} · {title}</title>
<link rel="icon" href="{ASSETS_URL}/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""
    return HTMLResponse(html)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    # What FastAPI would pass to Swagger UI, handed to the start script as data.
    config: dict[str, Any] = {
        **swagger_ui_default_parameters,
        **(request.app.swagger_ui_parameters or {}),
        "url": request.app.openapi_url,
        "validatorUrl": None,  # the public validator is elsewhere on the internet
    }
    return _page(
        request,
        "API reference",
        f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">',
        f'<div id="swagger-ui" data-config="{escape(json.dumps(config))}"></div>\n'
        f'<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
        '<script src="/static/docs-swagger.js"></script>',
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    return _page(
        request,
        "API reference",
        '<link rel="stylesheet" href="/static/docs.css">',
        f'<div id="redoc" data-spec-url="{escape(request.app.openapi_url or "")}"></div>\n'
        f'<script src="{ASSETS_URL}/redoc.standalone.js"></script>\n'
        '<script src="/static/docs-redoc.js"></script>',
    )
