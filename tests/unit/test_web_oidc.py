"""Production sign-in (authorization code + PKCE) against a stand-in issuer served by httpx's
MockTransport: the development issuer has no authorization or token endpoint, so the redirect, the
state check and the code exchange are exercised here; a real OpenID Connect provider is not (see the
README). The expected challenge is computed here from RFC 7636's definition, not by Authlib."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from web import oidc
from web.session import Session
from web.settings import WebSettings

ISSUER = "https://id.region.example"
CALLBACK = "https://web.region.example/sign-in/callback"


def settings(secret: str | None = None) -> WebSettings:
    return WebSettings(
        oidc_discovery_url=f"{ISSUER}/.well-known/openid-configuration",
        oidc_client_id="web-client",
        oidc_client_secret=secret,
    )


class Issuer:
    """Discovery and a token endpoint that answers one code for one verifier."""

    def __init__(self) -> None:
        self.code, self.verifier = "the-code", ""
        self.token_requests: list[dict[str, list[str]]] = []
        self.auth_headers: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                },
            )
        if request.url.path == "/token" and request.method == "POST":
            form = parse_qs(request.content.decode())
            self.token_requests.append(form)
            self.auth_headers.append(request.headers.get("authorization"))
            if form.get("code") == [self.code] and form.get("code_verifier") == [self.verifier]:
                return httpx.Response(200, json={"access_token": "at-123", "token_type": "Bearer"})
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(404)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


async def started(issuer: Issuer, ws: WebSettings) -> tuple[httpx.AsyncClient, oidc.Provider, Session, dict]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer))
    provider = await oidc.discover(http, ws.oidc_discovery_url or "")
    session = Session()
    url = oidc.start(provider, ws, session, CALLBACK)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/authorize"
    return http, provider, session, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def test_the_redirect_carries_state_and_an_s256_challenge(issuer: Issuer) -> None:
    ws = settings()
    _, _, session, q = await started(issuer, ws)
    assert q["response_type"] == "code" and q["client_id"] == "web-client" and q["redirect_uri"] == CALLBACK
    assert q["scope"] == "openid profile" and q["code_challenge_method"] == "S256"
    assert q["state"] == session.oidc["state"] and len(q["state"]) >= 32
    verifier = session.oidc["verifier"]
    assert 43 <= len(verifier) <= 128  # RFC 7636 4.1
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert q["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert verifier not in q.values()  # the verifier never leaves the server before the exchange


async def test_the_code_is_exchanged_with_the_verifier(issuer: Issuer) -> None:
    ws = settings()
    http, provider, session, q = await started(issuer, ws)
    issuer.verifier = session.oidc["verifier"]
    token = await oidc.finish(http, provider, ws, session, f"{CALLBACK}?code=the-code&state={q['state']}")
    assert token == "at-123"
    [form] = issuer.token_requests
    assert form["grant_type"] == ["authorization_code"] and form["redirect_uri"] == [CALLBACK]
    assert form["client_id"] == ["web-client"] and issuer.auth_headers == [None]  # a public client
    assert session.oidc == {}  # used once


async def test_a_confidential_client_authenticates_with_basic(issuer: Issuer) -> None:
    ws = settings(secret="s3cret")
    http, provider, session, q = await started(issuer, ws)
    issuer.verifier = session.oidc["verifier"]
    await oidc.finish(http, provider, ws, session, f"{CALLBACK}?code=the-code&state={q['state']}")
    assert issuer.auth_headers == ["Basic " + base64.b64encode(b"web-client:s3cret").decode()]


@pytest.mark.parametrize(
    "query",
    [
        "code=the-code&state=someone-elses",  # a callback this browser did not start
        "code=the-code",  # no state
        "error=access_denied&state={state}",  # the person said no
        "code=another-code&state={state}",  # the issuer refuses the code
    ],
)
async def test_a_bad_callback_signs_nobody_in(issuer: Issuer, query: str) -> None:
    ws = settings()
    http, provider, session, q = await started(issuer, ws)
    issuer.verifier = session.oidc["verifier"]
    with pytest.raises(oidc.SignInFailed):
        await oidc.finish(http, provider, ws, session, f"{CALLBACK}?{query.format(state=q['state'])}")
    assert session.oidc == {}  # and the pending sign-in is gone: the state cannot be replayed


async def test_a_callback_without_a_started_sign_in_is_refused(issuer: Issuer, tmp_path: Path) -> None:
    ws = settings()
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer))
    provider = await oidc.discover(http, ws.oidc_discovery_url or "")
    with pytest.raises(oidc.SignInFailed):
        await oidc.finish(http, provider, ws, Session(), f"{CALLBACK}?code=the-code&state=x")
    assert issuer.token_requests == []
