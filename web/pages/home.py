"""Home, sign-in (demo personas or the region's OpenID Connect issuer), sign-out and the language switch."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from web import oidc, personas
from web.app import Page, Web
from web.settings import LANGUAGES


def safe_next(value: str | None) -> str:
    """Only a path of this site (no scheme, no host, no //) is followed after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 300:
        return value
    return "/"


def routes(web: Web) -> list[Route]:
    async def home(page: Page) -> Response:
        return page.render(
            "home.html",
            personas=personas.PERSONAS if web.settings.dev_issuer else (),
            oidc=web.ws.oidc,
            next=safe_next(page.request.query_params.get("next")),
        )

    async def sign_in_persona(page: Page) -> Response:
        form = await page.form()
        persona = personas.BY_SUB.get(form.get("persona", ""))
        if persona is None or not web.settings.dev_issuer:
            return page.render("error.html", 400, message=page._("Choose one of the demo personas."))
        page.session.token = personas.mint(web.settings, persona, web.ws.session_max_age_s)
        page.session.who = {
            "sub": persona.sub,
            "name": persona.name,
            "roles": [persona.role],
            "org": persona.org,
            "region": web.settings.region,
        }
        page.session.changed = True
        return page.redirect(safe_next(form.get("next")))

    async def provider(page: Page) -> oidc.Provider:
        if web.provider is None:
            web.provider = await oidc.discover(web.issuer_http(), web.ws.oidc_discovery_url or "")
        return web.provider

    async def sign_in_oidc(page: Page) -> Response:
        form = await page.form()
        if not web.ws.oidc:
            return page.render("error.html", 404, message=page._("Sign-in with the region's issuer is not set up."))
        url = oidc.start(await provider(page), web.ws, page.session, str(page.request.url_for("oidc_callback")))
        page.session.oidc["next"] = safe_next(form.get("next"))
        return page.redirect(url)

    async def oidc_callback(page: Page) -> Response:
        if not web.ws.oidc:
            return page.render("error.html", 404, message=page._("Sign-in with the region's issuer is not set up."))
        after = safe_next(page.session.oidc.get("next"))
        try:
            token = await oidc.finish(
                web.issuer_http(), await provider(page), web.ws, page.session, str(page.request.url)
            )
        except oidc.SignInFailed as e:
            return page.render("error.html", 400, message=page._("Sign-in failed.") + " " + str(e))
        page.session.token, page.session.who, page.session.changed = token, oidc.claims(token), True
        return page.redirect(after)

    async def sign_out(page: Page) -> Response:
        await page.form()
        page.session.token, page.session.who, page.session.changed = None, {}, True
        return page.redirect("/")

    async def language(page: Page) -> Response:
        form = await page.form()
        if form.get("lang") in LANGUAGES:
            page.session.lang, page.session.changed = form["lang"], True
        return page.redirect(safe_next(form.get("next")))

    return [
        Route("/", web.page(home, signed_in=False)),
        Route("/sign-in/persona", web.page(sign_in_persona, signed_in=False), methods=["POST"]),
        Route("/sign-in/oidc", web.page(sign_in_oidc, signed_in=False), methods=["POST"]),
        Route("/sign-in/callback", web.page(oidc_callback, signed_in=False), name="oidc_callback"),
        Route("/sign-out", web.page(sign_out, signed_in=False), methods=["POST"]),
        Route("/language", web.page(language, signed_in=False), methods=["POST"]),
    ]
