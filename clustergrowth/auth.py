"""Bearer-token identity: verify JWTs from trusted issuers and expose a Principal.

In development a local issuer (an EC P-256 key under the data directory) signs tokens for
``clustergrowth token``. In production the home region's OpenID Connect issuer is configured by its
``iss``; its keys come from OIDC discovery, a JWKS URL or a file, and are refetched when they rotate.
Partner regions' issuers are trusted too, each with the roles this region grants its people.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request

from clustergrowth.problems import Forbidden, ServiceUnavailable, Unauthorized
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
log = logging.getLogger("clustergrowth.auth")


@dataclass(frozen=True)
class Principal:
    """Who is calling: subject, roles granted here, home region and organisation."""

    sub: str
    roles: frozenset[str]
    region: str
    org: str | None = None
    issuer: str | None = None

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


class IssuerKeys:
    """The public keys of one issuer: from a file, a JWKS URL, or OpenID Connect discovery.

    Fetched keys are cached for ``cache_s``; a token whose ``kid`` is unknown triggers a refetch (key
    rotation), at most once per ``min_refresh_s`` so that junk tokens cannot hammer the issuer. When
    the issuer cannot be reached, the keys already held keep working.
    """

    def __init__(
        self,
        issuer: str,
        *,
        static: dict[str, Any] | None = None,
        jwks_file: Path | None = None,
        jwks_uri: str | None = None,
        http: httpx.AsyncClient | None = None,
        cache_s: float = 600,
        min_refresh_s: float = 30,
    ) -> None:
        self.issuer, self.jwks_file, self.jwks_uri, self.http = issuer, jwks_file, jwks_uri, http
        self.cache_s, self.min_refresh_s = cache_s, min_refresh_s
        self.keys: dict[str, Any] = dict(static or {})
        self.static = static is not None
        self.fetched_at = -1e9
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> Any:
        now = time.monotonic()
        stale = now - self.fetched_at > self.cache_s
        unknown = kid not in self.keys and now - self.fetched_at > self.min_refresh_s
        if not self.static and (stale or unknown):
            await self.refresh()
        if kid in self.keys:
            return self.keys[kid]
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        raise Unauthorized(f"token signed by a key that {self.issuer} does not publish (kid {kid!r})")

    async def refresh(self) -> None:
        seen = self.fetched_at
        async with self._lock:
            if self.fetched_at != seen:
                return  # another request refreshed while this one waited
            try:
                jwks = await self._load()
            except (httpx.HTTPError, OSError, ValueError, KeyError) as e:
                if not self.keys:
                    raise ServiceUnavailable(f"cannot fetch the signing keys of {self.issuer}: {e}") from e
                log.warning("keeping cached keys of %s: refetch failed: %s", self.issuer, e)
                self.fetched_at = time.monotonic() - self.cache_s + self.min_refresh_s  # retry soon
                return
            keys = {}
            for k in jwks.get("keys", []):
                if k.get("use", "sig") != "sig":
                    continue
                try:
                    keys[k.get("kid")] = jwt.PyJWK(k).key
                except jwt.PyJWTError as e:
                    log.warning("ignoring a key of %s: %s", self.issuer, e)
            self.keys, self.fetched_at = keys, time.monotonic()
            self.fetches += 1

    async def _load(self) -> dict[str, Any]:
        if self.jwks_file is not None:
            data: dict[str, Any] = json.loads(await asyncio.to_thread(Path(self.jwks_file).read_text))
            return data
        assert self.http is not None
        uri = self.jwks_uri
        if uri is None:
            r = await self.http.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            r.raise_for_status()
            meta = r.json()
            if meta.get("issuer") != self.issuer:
                raise ValueError(f"discovery document names issuer {meta.get('issuer')!r}, not {self.issuer!r}")
            uri = str(meta["jwks_uri"])
        r = await self.http.get(uri)
        r.raise_for_status()
        data = r.json()
        return data


@dataclass(frozen=True)
class _Trust:
    """How tokens of one issuer become principals here."""

    keys: IssuerKeys
    audience: str
    region: str | None  # None: the home issuer's tokens say their region
    roles: dict[str, list[str]] | None  # None: roles as issued


class Authenticator:
    """Verifies bearer tokens of trusted issuers: signature, ``iss``, ``aud``, ``exp``/``nbf``, algorithm.

    The home issuer's roles and region are taken as issued; a partner issuer's people get the roles
    this region grants them (its ``roles`` map) and the partner's region as their home region.
    """

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=5.0)

        def fetched(issuer: str, jwks_file: Path | None, jwks_uri: str | None) -> IssuerKeys:
            return IssuerKeys(
                issuer,
                jwks_file=jwks_file,
                jwks_uri=jwks_uri,
                http=self.http,
                cache_s=settings.auth_jwks_cache_s,
                min_refresh_s=settings.auth_jwks_min_refresh_s,
            )

        if settings.dev_issuer:
            dev_key = DevIssuer(settings.data_dir).private_key().public_key()
            home = IssuerKeys(settings.auth_issuer, static={DEV_KID: dev_key})
        else:
            home = fetched(settings.auth_issuer, settings.auth_jwks_file, settings.auth_jwks_uri)
        self.trust: dict[str, _Trust] = {settings.auth_issuer: _Trust(home, settings.auth_audience, None, None)}
        for p in settings.auth_partners:
            keys = fetched(p.issuer, p.jwks_file, p.jwks_uri)
            self.trust[p.issuer] = _Trust(keys, p.audience or settings.auth_audience, p.region, p.roles)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise Unauthorized(f"malformed token: {e}") from e
        alg = header.get("alg")
        if alg not in self.settings.auth_algorithms:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted")
        trust = self.trust.get(str(unverified.get("iss")))
        if trust is None:
            raise Unauthorized(f"invalid token: issuer {unverified.get('iss')!r} is not trusted here")
        key = await trust.keys.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.settings.auth_algorithms,
                audience=trust.audience,
                issuer=trust.keys.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"invalid token: {e}") from e
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("invalid token: roles must be a list")
        if trust.roles is not None:
            roles = [granted for r in roles for granted in trust.roles.get(str(r), [])]
        return Principal(
            sub=str(claims["sub"]),
            roles=frozenset(str(r) for r in roles if r in ROLES),
            region=trust.region or str(claims.get("region") or self.settings.region),
            org=claims.get("org"),
            issuer=trust.keys.issuer,
        )


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, or 401 (async: no thread-pool hop per request)."""
    from clustergrowth.credentials import bearer_token  # read as the front doors' token quotas read it

    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    if "=" in token:  # JWS compact form has no padding (RFC 7515 §2): "<jwt>==" would verify as another spelling
        raise Unauthorized("malformed token: a JWT has no '=' padding")
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.verify(token)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


ANY = "any"


def allow(*roles: str) -> dict[str, Any]:
    """A route's role rule, as keyword arguments for its decorator: ``@router.get(..., **allow("student"))``.

    The rule is enforced by the service itself (a dependency that answers 403 naming the roles) and
    published in the OpenAPI description as ``x-roles``; ``any`` admits every authenticated caller.
    ``platform_admin`` passes every rule. Object-level rules stay in the handlers.
    """
    unknown = set(roles) - {*ROLES, ANY}
    if not roles or unknown:
        raise ValueError(f"a role rule needs known roles, got {sorted(unknown) or 'none'}")

    async def check(who: CurrentPrincipal) -> Principal:
        if ANY not in roles:
            who.require(*roles)
        return who

    return {"dependencies": [Depends(check)], "openapi_extra": {"x-roles": list(roles)}}
