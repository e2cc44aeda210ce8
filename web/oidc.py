"""Production sign-in: OpenID Connect authorization code with PKCE (RFC 7636, S256) against the region's
issuer. The protocol's parameters are built and parsed by Authlib; this module keeps the state and the
code verifier in the (signed) session between the redirect and the callback, and checks them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from web.session import Session
from web.settings import WebSettings


class SignInFailed(Exception):
    """The callback does not complete a sign-in this browser started (state, code or token refused)."""


@dataclass(frozen=True)
class Provider:
    """The issuer's endpoints, from its discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str


async def discover(http: httpx.AsyncClient, url: str) -> Provider:
    r = await http.get(url)
    r.raise_for_status()
    doc = r.json()
    return Provider(doc["issuer"], doc["authorization_endpoint"], doc["token_endpoint"])


def start(provider: Provider, ws: WebSettings, session: Session, redirect_uri: str) -> str:
    """The issuer's authorization URL; the state and the PKCE verifier are kept in the session."""
    state, verifier, nonce = generate_token(32), generate_token(64), generate_token(24)
    session.oidc = {"state": state, "verifier": verifier, "nonce": nonce, "redirect_uri": redirect_uri}
    session.changed = True
    return str(
        prepare_grant_uri(
            provider.authorization_endpoint,
            ws.oidc_client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=ws.oidc_scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
    )


async def finish(http: httpx.AsyncClient, provider: Provider, ws: WebSettings, session: Session, url: str) -> str:
    """Check the callback against the session (state), exchange the code with the verifier; the access token."""
    pending, session.oidc = session.oidc, {}
    session.changed = True
    if not pending.get("state"):
        raise SignInFailed("no sign-in was started in this browser")
    try:
        params = parse_authorization_code_response(url, state=pending["state"])
    except OAuth2Error as e:
        raise SignInFailed(f"the issuer's answer was refused: {e.error}") from e
    body = prepare_token_request(
        "authorization_code",
        code=params["code"],
        redirect_uri=pending["redirect_uri"],
        client_id=ws.oidc_client_id,
        code_verifier=pending["verifier"],
    )
    auth = (ws.oidc_client_id or "", ws.oidc_client_secret) if ws.oidc_client_secret else None
    r = await http.post(
        provider.token_endpoint,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        auth=auth,  # type: ignore[arg-type]
    )
    if r.status_code != 200:
        raise SignInFailed(f"the issuer refused the code ({r.status_code})")
    token = r.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise SignInFailed("the issuer's answer has no access token")
    return token


def claims(token: str) -> dict[str, Any]:
    """The token's claims, for the pages' choices only (the API verifies the token on every call)."""
    c = jwt.decode(token, options={"verify_signature": False})
    return {
        "sub": str(c.get("sub", "")),
        "name": str(c.get("name") or c.get("preferred_username") or c.get("sub", "")),
        "roles": [str(r) for r in c.get("roles", [])][:20],
        "org": c.get("org"),
        "region": c.get("region"),
    }
