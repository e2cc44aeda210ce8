"""The person's session: one cookie, signed (itsdangerous) and time-limited, ``HttpOnly``,
``SameSite=Lax`` and ``Secure`` when served over https. It holds the API token, who the person is (for
the pages' choices only; the API decides what she may do), her language and the CSRF secret. Every
form carries that secret in a hidden field and a POST whose field does not match the cookie's is refused
(a signed double-submit token): another site can make a browser send the cookie, but cannot read it."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "cg_session"
CSRF_FIELD = "csrf"
MAX_COOKIE = 3800  # browsers keep 4096 bytes per cookie


@dataclass
class Session:
    """What the cookie carries."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token: str | None = None
    who: dict[str, Any] = field(default_factory=dict)  # sub, name, roles, org, region: for the pages only
    lang: str | None = None
    oidc: dict[str, str] = field(default_factory=dict)  # state and PKCE verifier while signing in
    changed: bool = False

    @property
    def signed_in(self) -> bool:
        return self.token is not None

    def roles(self) -> set[str]:
        return set(self.who.get("roles", []))

    def has(self, *roles: str) -> bool:
        held = self.roles()
        return bool(held & set(roles)) or "platform_admin" in held


class Sessions:
    """Reads and writes the session cookie with one signing key."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self.signer = URLSafeTimedSerializer(secret, salt="cg-web-session")
        self.max_age_s = max_age_s

    def load(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = self.signer.loads(raw, max_age=self.max_age_s)
                return Session(
                    csrf=str(data["csrf"]),
                    token=data.get("token"),
                    who=dict(data.get("who") or {}),
                    lang=data.get("lang"),
                    oidc=dict(data.get("oidc") or {}),
                )
            except (BadSignature, KeyError, TypeError, ValueError):
                pass
        return Session(changed=True)

    def save(self, request: Request, response: Response, session: Session) -> None:
        value = self.signer.dumps(
            {
                "csrf": session.csrf,
                "token": session.token,
                "who": session.who,
                "lang": session.lang,
                "oidc": session.oidc,
            }
        )
        if len(value) > MAX_COOKIE:
            raise ValueError(f"the session cookie would be {len(value)} bytes; browsers keep {MAX_COOKIE}")
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def csrf_ok(session: Session, submitted: object) -> bool:
    """The form's token equals the session's (constant-time)."""
    return isinstance(submitted, str) and hmac.compare_digest(submitted.encode(), session.csrf.encode())
