"""The API's documentation page, ``/docs``, served whole by the gateway: Swagger UI's script, style and
icon come from a pinned Python package (``fastapi-offline``'s copy of Swagger UI, under
``/docs/assets/``), never from a CDN, so the page renders on a machine that reaches nothing but the
gateway. The page has its own Content-Security-Policy (the API's ``default-src 'none'`` does not apply
under ``/docs``): scripts from this origin and the one inline start-up script (by its hash), requests to
this origin only. ``/`` sends a person to the docs."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
ASSETS = f"{DOCS}/assets"
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))  # swagger-ui-bundle.js, swagger-ui.css, favicon.png

__all__ = ["ASSETS", "DOCS", "SWAGGER_UI", "docs_csp", "docs_page", "install_docs"]


def docs_page(openapi_url: str, title: str) -> str:
    """Swagger UI for the description at ``openapi_url``, with every asset from ``/docs/assets``."""
    html = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        # no badge from the public online validator: the page asks nothing of any other host
        swagger_ui_parameters={"validatorUrl": None},
    )
    return bytes(html.body).decode()


def docs_csp(page: str) -> str:
    """The page's policy: its own scripts and its inline start-up script (by hash), nothing from elsewhere."""
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline)
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve ``/docs`` (Swagger UI from the pinned package), its assets and ``/`` on ``app``, in place of
    FastAPI's own docs pages (which load Swagger UI and ReDoc from a CDN)."""
    defaults = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in defaults]
    app.docs_url = app.redoc_url = None
    page = docs_page(openapi_url, f"{app.title} — docs")
    headers = {"Content-Security-Policy": docs_csp(page), "Cache-Control": "no-cache"}

    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(DOCS)
