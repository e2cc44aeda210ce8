"""Bearer-token identity: verify JWTs from the trusted issuer and expose a Principal.

In embedded mode a development issuer (an EC P-256 key under the data directory) signs tokens for
``clustergrowth token``. A production issuer is configured by its ``iss`` and a JWKS file; then the
development issuer is off and the CLI refuses to mint tokens.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request

from clustergrowth.problems import Forbidden, Unauthorized
from clustergrowth.settings import RuntimeSettings

ROLES = (
    "sme_member",
    "student",
    "academic",
    "facility_manager",
    "council_secretary",
    "region_admin",
    "analyst",
    "platform_admin",
)
DEV_KID = "dev-1"


@dataclass(frozen=True)
class Principal:
    """Who is calling: subject, roles granted here, home region and organisation."""

    sub: str
    roles: frozenset[str]
    region: str
    org: str | None = None

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles)) or "platform_admin" in self.roles

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise Forbidden(f"this needs one of the roles {sorted(roles)}", required_roles=sorted(roles))


class DevIssuer:
    """Signs development tokens with a key kept under the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.key_path = Path(data_dir) / "dev-issuer" / "key.pem"

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        if not self.key_path.exists():
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            tmp = self.key_path.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            tmp.chmod(0o600)
            try:
                os.link(tmp, self.key_path)  # first writer wins when two processes race
            except FileExistsError:
                pass
            tmp.unlink()
        loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        return loaded

    def mint(
        self,
        settings: RuntimeSettings,
        sub: str,
        roles: list[str],
        region: str,
        org: str | None = None,
        ttl_s: int = 8 * 3600,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": settings.auth_issuer,
            "aud": settings.auth_audience,
            "sub": sub,
            "roles": roles,
            "region": region,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        if org:
            claims["org"] = org
        return jwt.encode(claims, self.private_key(), algorithm="ES256", headers={"kid": DEV_KID})


class Authenticator:
    """Verifies bearer tokens: signature, issuer, audience, expiry, algorithm allow-list."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self._keys: dict[str, Any] = {}
        if settings.dev_issuer:
            self._keys[DEV_KID] = DevIssuer(settings.data_dir).private_key().public_key()
        else:
            assert settings.auth_jwks_file is not None
            jwks = json.loads(Path(settings.auth_jwks_file).read_text())
            for k in jwks.get("keys", []):
                self._keys[k.get("kid", "")] = jwt.PyJWK(k).key

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise Unauthorized(f"malformed token: {e}") from e
        alg = header.get("alg")
        if alg not in self.settings.auth_algorithms:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted")
        key = self._keys.get(header.get("kid", "")) or (
            next(iter(self._keys.values())) if len(self._keys) == 1 else None
        )
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.settings.auth_algorithms,
                audience=self.settings.auth_audience,
                issuer=self.settings.auth_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"invalid token: {e}") from e
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("invalid token: roles must be a list")
        return Principal(
            sub=str(claims["sub"]),
            roles=frozenset(str(r) for r in roles if r in ROLES),
            region=str(claims.get("region") or self.settings.region),
            org=claims.get("org"),
        )


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, or 401 (async: no thread-pool hop per request)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required")
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.verify(token.strip())
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
