"""The web client's app: sessions, languages, rendering and sign-in; each journey's pages are in
``web/pages/``. ``create_web`` builds it for one region; ``web_paths`` says which paths are its."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from clustergrowth.settings import RuntimeSettings
from web import i18n, oidc, problems
from web.platform import Platform, Problem, client_for
from web.session import CSRF_FIELD, Session, Sessions, csrf_ok
from web.settings import LANGUAGES, WebSettings

HERE = Path(__file__).parent
log = logging.getLogger("web")
MAX_FORM_BYTES = 64 << 10
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def csp(ws: WebSettings) -> str:
    """Pages use this origin's styles and images only (plus the logo's host); no script at all."""
    logo = ""
    if ws.logo_url and ws.logo_url.startswith("https://"):
        logo = " " + "https://" + urlsplit(ws.logo_url).netloc
    return (
        f"default-src 'none'; style-src 'self'; img-src 'self' data:{logo}; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


def session_secret(settings: RuntimeSettings, ws: WebSettings) -> str:
    """The signing key: configured (required in production, and shared by every replica), else a key kept
    under the data dir."""
    if ws.secret_key:
        return ws.secret_key
    if settings.environment == "production":
        raise ValueError("CG_WEB_SECRET_KEY is required in production (32+ characters, the same in every replica)")
    path = settings.data_dir / "web" / "session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{secrets.token_hex(8)}.tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # the first writer wins when two processes race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


@dataclass
class Page:
    """One request's view: the session, the language and its formats, the API as this person."""

    web: Web
    request: Request
    session: Session
    lang: str
    api: Platform
    http: httpx.AsyncClient
    posted: list[tuple[str, str]] = field(default_factory=list)  # the form's fields, in order (form())
    form_read: bool = False

    @property
    def fmt(self) -> i18n.Formats:
        return i18n.Formats(self.lang)

    def _(self, text: str) -> str:
        return i18n.translations(self.lang).gettext(text)

    def ngettext(self, one: str, many: str, n: int) -> str:
        """The form of a message for ``n`` by the language's CLDR plural rules (``%(n)s`` filled in)."""
        return i18n.translations(self.lang).ngettext(one, many, n) % {"n": n}

    def here(self) -> str:
        """Where the language switch returns to: this page (a form's result page names its GET page)."""
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")

    def size_name(self, size: str) -> str:
        _ = self._
        names = {"micro": _("Micro"), "small": _("Small"), "medium": _("Medium-sized"), "large": _("Large")}
        return names.get(size, size)

    def role_name(self, role: str) -> str:
        _ = self._
        names = {
            "sme_member": _("SME member"),
            "student": _("Student"),
            "academic": _("Academic"),
            "facility_manager": _("Facility manager"),
            "council_secretary": _("Council secretary"),
            "region_admin": _("Regional administrator"),
            "analyst": _("Analyst"),
            "platform_admin": _("Platform administrator"),
        }
        return names.get(role, role)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        env = self.web.envs[self.lang]
        html = env.get_template(template).render(
            page=self,
            s=self.session,
            ws=self.web.ws,
            lang=self.lang,
            languages=i18n.NAMES,
            fmt=self.fmt,
            csrf_field=CSRF_FIELD,
            path=self.request.url.path,
            **{"here": self.here(), **context},
        )
        return HTMLResponse(html, status_code=status)

    def redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    async def form(self) -> dict[str, str]:
        """The posted form, after the CSRF check (a mismatch raises ``CsrfRefused``). The pages post
        URL-encoded forms only; the bytes are counted as they arrive, whatever Content-Length says (a
        chunked body has none), and at most 200 fields are read."""
        if self.form_read:
            return dict(self.posted)
        if self.request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise Problem(415, detail="a form is sent as application/x-www-form-urlencoded")
        if int(self.request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            raise Problem(413, detail="form too large")
        body = bytearray()
        async for chunk in self.request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise Problem(413, detail="form too large")
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as e:  # not UTF-8, or over 200 fields
            raise Problem(400, detail=f"form not readable: {e}") from None
        data = dict(pairs)  # a repeated name: its last value (form_values has them all)
        if not csrf_ok(self.session, data.get(CSRF_FIELD)):
            raise CsrfRefused
        self.posted, self.form_read = pairs, True
        return data

    def form_values(self, name: str) -> list[str]:
        """Every value posted under ``name`` (ticked boxes), in order; after ``form()``."""
        return [v for k, v in self.posted if k == name]


class CsrfRefused(Exception):
    """A form without this session's CSRF token."""


Handler = Callable[[Page], Awaitable[Response]]


class Web:
    """The client for one region: settings, templates per language, sessions, the API."""

    def __init__(
        self, settings: RuntimeSettings, ws: WebSettings, api: ASGIApp | str, issuer: httpx.AsyncClient | None = None
    ) -> None:
        self.settings, self.ws, self.api, self._issuer = settings, ws, api, issuer
        self._api_http: httpx.AsyncClient | None = None
        self.sessions = Sessions(session_secret(settings, ws), ws.session_max_age_s)
        self.csp = csp(ws)
        self.provider: oidc.Provider | None = None
        self.envs: dict[str, Environment] = {}
        for lang in LANGUAGES:
            env = Environment(
                loader=FileSystemLoader(HERE / "templates"),
                autoescape=select_autoescape(["html"]),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
            env.filters["upper_l"] = lambda text, lang=lang: i18n.upper(str(text), lang)
            self.envs[lang] = env

    @asynccontextmanager
    async def api_client(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        """In-process: a client per request carrying the browser's address (the API's per-address quota);
        over HTTP: one pooled client for every request (its address is the web client's own)."""
        if isinstance(self.api, str):
            if self._api_http is None:
                self._api_http = client_for(self.api, address, self.ws.api_timeout_s)
            yield self._api_http
        else:
            async with client_for(self.api, address, self.ws.api_timeout_s) as http:
                yield http

    async def aclose(self) -> None:
        """Close the pooled clients (the API's over HTTP, the issuer's)."""
        for client in (self._api_http, self._issuer):
            if client is not None:
                await client.aclose()
        self._api_http = self._issuer = None

    def issuer_http(self) -> httpx.AsyncClient:
        """The client to the region's OpenID Connect issuer (made on first use)."""
        if self._issuer is None:
            self._issuer = httpx.AsyncClient(timeout=self.ws.api_timeout_s)
        return self._issuer

    def page(self, handler: Handler, *, signed_in: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a page handler: session and language in, cookie and headers out; API problems that are the
        session's (401) send the person to sign in again."""

        async def endpoint(request: Request) -> Response:
            session = self.sessions.load(request)
            lang = i18n.pick(
                request.query_params.get("lang") or session.lang,
                request.headers.get("accept-language"),
                self.ws.default_language,
            )
            address = request.client.host if request.client else "-"
            async with self.api_client(address) as http:
                api = Platform(http, session.token, partial(problems.localise, lang=lang))
                page = Page(self, request, session, lang, api, http)
                try:
                    if signed_in and not session.signed_in:
                        response = page.redirect("/?next=" + request.url.path)
                    else:
                        response = await handler(page)
                except CsrfRefused:
                    response = page.render("error.html", 403, message=page._("The form had expired. Please try again."))
                except Problem as p:
                    if p.status == 401:
                        session.token, session.who, session.changed = None, {}, True
                        response = page.redirect("/")
                    else:
                        response = page.render("error.html", p.status, problem=p)
                except Exception:  # a page, never a stack trace; the cause goes to the log
                    log.exception("web page %s failed", request.url.path)
                    response = page.render("error.html", 500, message=page._("Something went wrong on our side."))
            if session.changed:
                self.sessions.save(request, response, session)
            for k, v in SECURITY_HEADERS.items():
                response.headers.setdefault(k, v)
            response.headers.setdefault("Content-Security-Policy", self.csp)
            response.headers.setdefault("Content-Language", lang)
            return response

        return endpoint


def brand_css(ws: WebSettings) -> str:
    """The region's colours as CSS custom properties (served, not inline: the CSP allows no inline style)."""
    return f":root {{ --brand: {ws.colour_primary}; --accent: {ws.colour_accent}; }}\n"


def create_web(
    settings: RuntimeSettings,
    ws: WebSettings | None = None,
    api: ASGIApp | None = None,
    issuer: httpx.AsyncClient | None = None,
) -> Starlette:
    """The web client for this region; ``api`` is the regional app (embedded) unless ``CG_WEB_API_URL``."""
    ws = ws or WebSettings()
    target: ASGIApp | str | None = ws.api_url or api
    if target is None:
        raise ValueError("the web client needs the regional app (in-process) or CG_WEB_API_URL")
    web = Web(settings, ws, target, issuer)
    from web.pages import (
        assessment,
        council_manage,
        council_work,
        councils,
        explorer,
        facilities,
        home,
        matching,
        matching_host,
        placements,
        practices,
        training,
        training_modules,
    )

    routes: list[BaseRoute] = [
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        Route("/brand.css", lambda r: PlainTextResponse(brand_css(ws), media_type="text/css")),
        *home.routes(web),
        *facilities.routes(web),
        *assessment.routes(web),
        *explorer.routes(web),
        *councils.routes(web),
        *council_work.routes(web),
        *council_manage.routes(web),
        *training.routes(web),
        *training_modules.routes(web),
        *practices.routes(web),
        *matching.routes(web),
        *placements.routes(web),
        *matching_host.routes(web),
    ]

    async def not_found(page: Page) -> Response:
        return page.render("error.html", 404, message=page._("Page not found."))

    missing = web.page(not_found, signed_in=False)

    async def unknown(request: Request, exc: Exception) -> Response:
        return await missing(request)  # an unknown page or method: the site's own page, in the person's language

    app = Starlette(routes=routes, exception_handlers={404: unknown, 405: unknown})
    app.state.web = web
    return app


def web_paths(app: Starlette) -> Callable[[str], bool]:
    """Whether a path is the web client's: its routes' first segments (and ``/`` itself)."""
    heads = set()
    for r in app.routes:
        path = getattr(r, "path", "")
        heads.add(path.strip("/").split("/")[0])

    def owns(path: str) -> bool:
        return path.strip("/").split("/")[0] in heads

    return owns


class WebFirst:
    """ASGI middleware: the web client's paths go to it, everything else (``/api/v1``, ``/docs``,
    ``/openapi.json``, health, metrics) to the regional app underneath."""

    def __init__(self, app: ASGIApp, web: Starlette) -> None:
        self.app, self.web, self.owns = app, web, web_paths(web)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.owns(scope["path"]):
            await self.web(scope, receive, send)
        else:
            await self.app(scope, receive, send)
