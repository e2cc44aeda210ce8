"""Bearer-token identity: verify JWTs from trusted issuers and expose a Principal.

In development a local issuer (an EC P-256 key under the data directory) signs tokens for
``clustergrowth token``. In production the home region's OpenID Connect issuer is configured by its
``iss``; its keys come from OIDC discovery, a JWKS URL or a file, and are refetched when they rotate.
Partner regions' issuers are trusted too, each with the roles this region grants its people.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from clustergrowth import ids
from clustergrowth.credentials import bearer_token
from clustergrowth.problems import Forbidden, ServiceUnavailable, Unauthorized
from clustergrowth.settings import DEV_ISSUER, RuntimeSettings

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

# The tenancy model: what each role's reach is. ``organisation`` roles act on their organisation's objects
# only; ``region`` roles act on this region's data, and only when this region's issuer grants them for
# this region (or a partner's issuer by an explicit grant in CG_AUTH_PARTNERS); ``network`` roles read
# across the network; ``person`` roles act on what the person owns. Enforced in ``Authenticator.verify``
# (which roles a token gets here) and by the object checks in the services (``Principal.id``/``org``).
SCOPES: dict[str, str] = {
    "sme_member": "organisation",
    "facility_manager": "organisation",
    "student": "person",
    "academic": "person",
    "council_secretary": "region",
    "region_admin": "region",
    "platform_admin": "region",
    "analyst": "network",
}
assert set(SCOPES) == set(ROLES)
ORG_CLAIM = re.compile(r"^[^\x00-\x1f\x7f]{1,120}$")


def person_id(issuer: str, sub: str) -> str:
    """The platform's id of a person: (issuer, subject) hashed into a short, URL-safe, stable string.

    A ``sub`` is only unique within its issuer, so the same ``sub`` from two issuers is two people. The
    id is the same in every region (it depends on nothing but the pair) and does not reveal the subject.
    """
    digest = hashlib.sha256(issuer.encode() + b"\x00" + sub.encode()).digest()
    return "p-" + base64.b32encode(digest).decode()[:26].lower()


def org_id(namespace: str, claim: str) -> str:
    """The platform's id of an organisation: its issuer's region and the organisation claim.

    The home issuer's organisations are ``<this region>:<claim>``; a partner issuer's are
    ``<partner region>:<claim>``, and partner regions differ from the home region and from each other
    (checked in the settings), so no token can name an organisation of another issuer.
    """
    return f"{namespace}:{claim}"


PERSON_ID_PATTERN = r"^p-[a-z2-7]{26}$"  # for input models that name a person
ORG_ID_PATTERN = r"^[A-Z]{2}[0-9A-Z]{2}:[^\x00-\x1f\x7f]{1,120}$"  # ... or an organisation


@dataclass(frozen=True)
class Principal:
    """Who is calling: subject and issuer, roles granted here, home region and organisation (platform id)."""

    sub: str
    roles: frozenset[str]
    region: str
    org: str | None = None
    issuer: str = DEV_ISSUER

    @cached_property
    def id(self) -> str:
        """The person's platform id: what everything a person owns is keyed by."""
        return person_id(self.issuer, self.sub)

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
            tmp = self.key_path.with_suffix(f".{ids.uuid4().hex}.tmp")
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
            "jti": ids.uuid4().hex,
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
                log.warning("keeping cached keys of %s: refetch failed: %s", self.issuer, e)  # pragma: no mutate
                self.fetched_at = time.monotonic() - self.cache_s + self.min_refresh_s  # retry soon
                return
            keys = {}
            for k in jwks.get("keys", []):
                if k.get("use", "sig") != "sig":
                    continue
                try:
                    keys[k.get("kid")] = jwt.PyJWK(k).key
                except jwt.PyJWTError as e:
                    log.warning("ignoring a key of %s: %s", self.issuer, e)  # pragma: no mutate
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


VERIFIED_TOKENS = 4096  # verified tokens remembered (least recently used dropped first)
LEEWAY_S = 30


def _still_valid(claims: dict[str, Any], now: float) -> bool:
    """PyJWT's time checks with the verifier's leeway: refused from exp + leeway on, accepted from
    nbf (and iat) - leeway on."""
    exp, nbf, iat = claims["exp"], claims.get("nbf"), claims.get("iat")
    return int(exp) > now - LEEWAY_S and all(int(t) <= now + LEEWAY_S for t in (nbf, iat) if t is not None)


class Authenticator:
    """Verifies bearer tokens of trusted issuers: signature, ``iss``, ``aud``, ``exp``/``nbf``, algorithm.

    The home issuer's roles and region are taken as issued; a partner issuer's people get the roles
    this region grants them (its ``roles`` map) and the partner's region as their home region.
    """

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=5.0)
        self.clock = time.time  # what a cached token's exp/nbf/iat are checked against (PyJWT: wall clock)
        # token -> (trust, kid, signing key, claims, the principal made of them)
        self._verified: OrderedDict[str, tuple[_Trust, Any, Any, dict[str, Any], Principal]] = OrderedDict()

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
        """The principal of a valid token. A token verified before is not verified again while its signing
        key is still the one published for its ``kid`` and its time claims still hold on ``clock``, by
        the same rules and leeway as PyJWT (a signature check was a tenth of a booking's CPU time). Its
        principal is remembered with it: the same claims under the same settings make the same
        (immutable) principal, so it is not made again for each request."""
        hit = self._verified.get(token)
        if hit is not None:
            known, kid, signer, verified, principal = hit
            if await known.keys.key(kid) is signer and _still_valid(verified, self.clock()):
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]  # expired or re-keyed: the full path below says why
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
                leeway=LEEWAY_S,
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"invalid token: {e}") from e
        principal = self.principal(trust, claims)  # raises for claims this region refuses: not cached
        self._verified[token] = (trust, header.get("kid"), key, claims, principal)
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    def principal(self, trust: _Trust, claims: dict[str, Any]) -> Principal:
        """The tenancy rules, in one place: which roles, region and organisation a verified token gets here."""
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Unauthorized("invalid token: roles must be a list")
        sub = claims["sub"]
        if not isinstance(sub, str) or not 1 <= len(sub) <= 255:
            raise Unauthorized("invalid token: sub must be a string of 1 to 255 characters")
        if trust.roles is not None:  # a partner's people: only what this region grants them, explicitly
            region = trust.region or self.settings.region
            granted = {g for r in roles for g in trust.roles.get(str(r), [])}
        else:  # the home issuer: region-scoped staff roles only for this region
            region = str(claims.get("region") or self.settings.region)
            granted = {str(r) for r in roles}
            if region != self.settings.region:
                granted = {r for r in granted if SCOPES.get(r) != "region"}
        claim = claims.get("org")
        org = None
        if isinstance(claim, str) and ORG_CLAIM.match(claim):
            namespace = trust.region or self.settings.region
            known = self.settings.auth_organisations
            if trust.roles is not None or not known or claim in known:
                org = org_id(namespace, claim)
        return Principal(
            sub=sub,
            roles=frozenset(r for r in granted if r in SCOPES),
            region=region,
            org=org,
            issuer=trust.keys.issuer,
        )


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, or 401 (async: no thread-pool hop per request). The token
    is read as the front doors' token quotas read it (``bearer_token``)."""
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
_PRINCIPAL_RULE = Depends(current_principal)  # the "any" rule: the dependency CurrentPrincipal names


ANY = "any"
PUBLIC = "public"


def allow(*roles: str) -> dict[str, Any]:
    """A route's role rule, as keyword arguments for its decorator: ``@router.get(..., **allow("student"))``.

    The rule is enforced by the service itself (a dependency that answers 403 naming the roles) and
    published in the OpenAPI description as ``x-roles``; ``any`` admits every authenticated caller.
    ``platform_admin`` passes every rule. Object-level rules stay in the handlers.

    ``public`` admits everyone, with or without a token (what a stranger must be able to check, such as
    a credential's signature): no principal is read, the route publishes ``x-roles: ["public"]`` and
    ``security: []``. It stands alone: combined with a role it would say two things at once.
    """
    if PUBLIC in roles:
        if roles != (PUBLIC,):
            raise ValueError(f"a public route admits everyone and takes no other role, got {list(roles)}")
        return {"dependencies": [], "openapi_extra": {"x-roles": [PUBLIC], "security": []}}
    unknown = set(roles) - {*ROLES, ANY}
    if not roles or unknown:
        raise ValueError(f"a role rule needs known roles, got {sorted(unknown) or 'none'}")

    if ANY in roles:  # the principal itself; a RuledRoute whose first dependency is the principal drops it
        return {"dependencies": [_PRINCIPAL_RULE], "openapi_extra": {"x-roles": list(roles)}}

    async def check(who: CurrentPrincipal) -> Principal:
        who.require(*roles)
        return who

    return {"dependencies": [Depends(check)], "openapi_extra": {"x-roles": list(roles)}}


def principal_first(path: str, endpoint: Any) -> bool:
    """Whether the first dependency FastAPI solves for a route function's own parameters is
    ``current_principal`` (read by FastAPI's own analysis of the signature: the last of a parameter's
    annotations, else its default, decides)."""
    own = get_dependant(path=path, call=endpoint).dependencies
    return bool(own) and own[0].call is current_principal


class RuledRoute(APIRoute):
    """A route whose ``any`` rule is its own ``CurrentPrincipal`` parameter when that is what FastAPI solves
    first anyway. FastAPI solves each dependency of a route in turn, and a repeated one still has its own
    parameters solved before its cached value is found (callgrind: about 20 µs, a tenth of a refused
    booking's overhead). The rule's copy is dropped only when it is the route's only dependency of its
    own and the function's first dependency is the principal: the token is still checked before any other
    dependency runs, and every ``any`` route answers 401 without a valid one (the generated authorization
    tests send each route no token)."""

    def __init__(self, path: str, endpoint: Any, *, dependencies: Any = None, **kwargs: Any) -> None:
        given = list(dependencies or [])
        if len(given) == 1 and given[0] is _PRINCIPAL_RULE and principal_first(path, endpoint):
            given = []
        super().__init__(path, endpoint, dependencies=given, **kwargs)


class RuledRouter(APIRouter):
    """The services' router: its routes are ``RuledRoute``s."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", RuledRoute)
        super().__init__(**kwargs)
