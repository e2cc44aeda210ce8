"""An issuer's signing keys: OIDC discovery, a JWKS URL or a file; caching, refetch on rotation, and what
happens when the issuer cannot be reached. The issuer is a fake OIDC provider behind httpx's in-process
transport; the cache runs on a clock set by hand (the module's ``time``, replaced per test)."""

from __future__ import annotations

import asyncio
import json
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clustergrowth import auth
from clustergrowth.auth import Authenticator, IssuerKeys
from clustergrowth.problems import ServiceUnavailable, Unauthorized
from clustergrowth.settings import RuntimeSettings, TrustedIssuer

ISS = "https://id.example/realms/cork"
DISCOVERY = ISS + "/.well-known/openid-configuration"
JWKS = "https://keys.example/cork/jwks.json"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The key cache's clock (``time.monotonic`` as clustergrowth.auth reads it), set by hand."""
    c = Clock(1000.0)
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(monotonic=c, time=time.time))
    return c


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key: ec.EllipticCurvePrivateKey, kid: str | None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        d["kid"] = kid
    return {**d, **extra}


def same_key(got: Any, key: ec.EllipticCurvePrivateKey) -> bool:
    return bool(got.public_numbers() == key.public_key().public_numbers())


class Provider:
    """A fake OIDC provider: the discovery document at ``<issuer>/.well-known/openid-configuration`` and
    the JWKS at ``JWKS``; every request is recorded. ``answer`` replaces the answer to one URL."""

    def __init__(self, issuer: str, keys: list[dict[str, Any]], jwks_url: str = JWKS) -> None:
        self.issuer, self.jwks, self.jwks_url = issuer, {"keys": keys}, jwks_url
        self.meta: dict[str, Any] = {"issuer": issuer, "jwks_uri": jwks_url}
        self.requests: list[str] = []
        self.answer: dict[str, Callable[[httpx.Request], httpx.Response]] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        await asyncio.sleep(0)  # an answer takes a turn of the loop, as a real one does
        if url in self.answer:
            return self.answer[url](request)
        if url == self.issuer.rstrip("/") + "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.meta)
        if url == self.jwks_url:
            return httpx.Response(200, json=self.jwks)
        return httpx.Response(404, json={"detail": "not here"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


# Where the keys come from ------------------------------------------------------------------------------


async def test_discovery_reads_the_configuration_then_the_jwks_it_names(clock: Clock) -> None:
    k1 = new_key()
    p = Provider(ISS, [jwk(k1, "k1")])
    keys = IssuerKeys(ISS, http=p.client())
    assert keys.fetches == 0
    assert same_key(await keys.key("k1"), k1)
    assert p.requests == [DISCOVERY, JWKS]
    assert keys.fetches == 1


@pytest.mark.parametrize(
    ("issuer", "discovery"),
    [
        (ISS + "/", "https://id.example/realms/cork/.well-known/openid-configuration"),
        ("https://id.example/realms/X/", "https://id.example/realms/X/.well-known/openid-configuration"),
    ],
)
async def test_an_issuer_with_a_trailing_slash_is_discovered_without_a_double_slash(
    clock: Clock, issuer: str, discovery: str
) -> None:
    """Only the slash goes: the issuer is otherwise kept as it is, whatever it ends with."""
    k1 = new_key()
    p = Provider(issuer, [jwk(k1, "k1")])
    keys = IssuerKeys(issuer, http=p.client())
    assert same_key(await keys.key("k1"), k1)
    assert p.requests == [discovery, JWKS]


async def test_a_jwks_uri_skips_discovery(clock: Clock) -> None:
    k1 = new_key()
    p = Provider(ISS, [jwk(k1, "k1")])
    keys = IssuerKeys(ISS, jwks_uri=JWKS, http=p.client())
    assert same_key(await keys.key("k1"), k1)
    assert p.requests == [JWKS]


async def test_a_jwks_file_needs_no_network(clock: Clock, tmp_path: Path) -> None:
    k1 = new_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(k1, "k1")]}))
    keys = IssuerKeys(ISS, jwks_file=path)
    assert same_key(await keys.key("k1"), k1)
    assert keys.fetches == 1


async def test_only_signing_keys_that_parse_are_kept(clock: Clock) -> None:
    """``use`` absent means a signing key; ``enc`` keys are skipped and a key that does not parse is
    ignored, and neither stops the keys after it from loading."""
    k0, k1, k2 = new_key(), new_key(), new_key()
    broken = {"kty": "EC", "crv": "P-256", "kid": "broken"}  # no coordinates
    p = Provider(ISS, [jwk(k0, "k0", use="enc"), jwk(k1, "k1"), broken, jwk(k2, "k2", use="sig")])
    keys = IssuerKeys(ISS, http=p.client())
    assert same_key(await keys.key("k1"), k1)
    assert sorted(keys.keys) == ["k1", "k2"]
    assert same_key(await keys.key("k2"), k2)
    for kid in ("k0", "broken"):
        with pytest.raises(Unauthorized, match=f"kid '{kid}'"):
            await keys.key(kid)


async def test_a_jwks_without_keys_publishes_none(clock: Clock) -> None:
    p = Provider(ISS, [])
    p.jwks = {}
    keys = IssuerKeys(ISS, http=p.client())
    with pytest.raises(Unauthorized) as e:
        await keys.key("k1")
    assert e.value.detail == f"token signed by a key that {ISS} does not publish (kid 'k1')"
    assert (e.value.status, keys.keys, keys.fetches) == (401, {}, 1)


# Which key a token's kid names ------------------------------------------------------------------------


async def test_a_token_without_kid_uses_the_only_key_and_nothing_else() -> None:
    a, b = new_key().public_key(), new_key().public_key()
    one = IssuerKeys(ISS, static={"a": a})
    assert await one.key(None) is a
    assert await one.key("a") is a
    with pytest.raises(Unauthorized) as e:
        await one.key("b")  # a kid the issuer does not publish, even with a single key
    assert e.value.detail == f"token signed by a key that {ISS} does not publish (kid 'b')"
    two = IssuerKeys(ISS, static={"a": a, "b": b})
    assert await two.key("b") is b
    with pytest.raises(Unauthorized) as e:
        await two.key(None)  # which of the two? neither
    assert e.value.detail == f"token signed by a key that {ISS} does not publish (kid None)"
    none = IssuerKeys(ISS, static={})
    with pytest.raises(Unauthorized):
        await none.key(None)


async def test_static_keys_are_never_fetched(clock: Clock) -> None:
    """No http client at all: an unknown kid on static keys is refused, not refetched."""
    keys = IssuerKeys(ISS, static={"a": new_key().public_key()})
    clock.t += 10_000
    with pytest.raises(Unauthorized, match="does not publish"):
        await keys.key("zz")
    assert keys.fetches == 0


# The cache: 600 s for known keys, an unknown kid refetches at most every 30 s (the defaults) ------------


async def test_keys_are_cached_for_600_seconds_and_refetched_after(clock: Clock) -> None:
    k1 = new_key()
    p = Provider(ISS, [jwk(k1, "k1")])
    keys = IssuerKeys(ISS, jwks_uri=JWKS, http=p.client())
    t0 = clock.t
    await keys.key("k1")
    clock.t = t0 + 30.25  # past the unknown-kid limit, but the kid is known: no refetch
    await keys.key("k1")
    clock.t = t0 + 600  # the cache's last instant
    await keys.key("k1")
    assert (len(p.requests), keys.fetches) == (1, 1)
    clock.t = t0 + 600.25  # stale
    assert same_key(await keys.key("k1"), k1)
    assert (len(p.requests), keys.fetches) == (2, 2)


async def test_an_unknown_kid_refetches_at_most_every_30_seconds(clock: Clock) -> None:
    k1, k2 = new_key(), new_key()
    p = Provider(ISS, [jwk(k1, "k1")])
    keys = IssuerKeys(ISS, jwks_uri=JWKS, http=p.client())
    t0 = clock.t
    await keys.key("k1")
    p.jwks = {"keys": [jwk(k1, "k1"), jwk(k2, "k2")]}  # the issuer rotates in a new key
    clock.t = t0 + 30  # too soon: junk kids must not hammer the issuer
    with pytest.raises(Unauthorized, match="kid 'k2'"):
        await keys.key("k2")
    assert len(p.requests) == 1
    clock.t = t0 + 30.25
    assert same_key(await keys.key("k2"), k2)
    assert (len(p.requests), keys.fetches) == (2, 2)


async def test_the_cache_times_are_settable(clock: Clock) -> None:
    p = Provider(ISS, [jwk(new_key(), "k1")])
    keys = IssuerKeys(ISS, jwks_uri=JWKS, http=p.client(), cache_s=100, min_refresh_s=5)
    t0 = clock.t
    await keys.key("k1")
    clock.t = t0 + 5
    with pytest.raises(Unauthorized):
        await keys.key("new")
    clock.t = t0 + 5.25
    with pytest.raises(Unauthorized):
        await keys.key("new")
    assert len(p.requests) == 2
    clock.t = t0 + 5.25 + 100
    await keys.key("k1")
    assert len(p.requests) == 2
    clock.t = t0 + 5.5 + 100
    await keys.key("k1")
    assert len(p.requests) == 3


async def test_requests_waiting_on_one_refresh_do_not_fetch_again(clock: Clock) -> None:
    k1 = new_key()
    p = Provider(ISS, [jwk(k1, "k1")])
    keys = IssuerKeys(ISS, http=p.client())
    got = await asyncio.gather(*(keys.key("k1") for _ in range(3)))
    assert all(same_key(g, k1) for g in got)
    assert (p.requests, keys.fetches) == ([DISCOVERY, JWKS], 1)


# When the issuer cannot be reached ---------------------------------------------------------------------


def status(code: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, json=body)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def unavailable(keys: IssuerKeys) -> str:
    """The 503's detail when the keys are needed and cannot be fetched."""
    with pytest.raises(ServiceUnavailable) as e:
        await keys.key("k1")
    assert e.value.status == 503
    return e.value.detail


async def test_discovery_naming_another_issuer_is_refused(clock: Clock) -> None:
    p = Provider(ISS, [jwk(new_key(), "k1")])
    p.meta["issuer"] = "https://evil.example"
    detail = await unavailable(IssuerKeys(ISS, http=p.client()))
    assert detail == (
        f"cannot fetch the signing keys of {ISS}: discovery document names issuer 'https://evil.example', not '{ISS}'"
    )
    assert p.requests == [DISCOVERY]  # the JWKS it names is never read


async def test_discovery_without_an_issuer_is_refused(clock: Clock) -> None:
    p = Provider(ISS, [jwk(new_key(), "k1")])
    del p.meta["issuer"]
    detail = await unavailable(IssuerKeys(ISS, http=p.client()))
    assert detail == f"cannot fetch the signing keys of {ISS}: discovery document names issuer None, not '{ISS}'"


@pytest.mark.parametrize(
    ("url", "answer", "error"),
    [
        (DISCOVERY, refused, "connection refused"),
        (DISCOVERY, status(200, {"issuer": ISS}), "'jwks_uri'"),
        (JWKS, lambda r: httpx.Response(200, text="<html>down for maintenance</html>"), "Expecting value: line 1"),
    ],
)
async def test_an_unreachable_issuer_with_no_keys_held_is_503(
    clock: Clock, url: str, answer: Callable[[httpx.Request], httpx.Response], error: str
) -> None:
    p = Provider(ISS, [jwk(new_key(), "k1")])
    p.answer[url] = answer
    detail = await unavailable(IssuerKeys(ISS, http=p.client()))
    assert detail.startswith(f"cannot fetch the signing keys of {ISS}: {error}"), detail


@pytest.mark.parametrize("url", [DISCOVERY, JWKS])
async def test_an_error_status_is_not_read_even_with_a_usable_body(clock: Clock, url: str) -> None:
    """A 500 whose body happens to look right is still an error (raise_for_status before reading)."""
    p = Provider(ISS, [jwk(new_key(), "k1")])
    body = p.meta if url == DISCOVERY else p.jwks
    p.answer[url] = status(500, body)
    detail = await unavailable(IssuerKeys(ISS, http=p.client()))
    assert detail.startswith(
        f"cannot fetch the signing keys of {ISS}: Server error '500 Internal Server Error' for url '{url}'"
    ), detail


async def test_a_missing_jwks_file_is_503(clock: Clock, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    detail = await unavailable(IssuerKeys(ISS, jwks_file=path))
    assert detail == f"cannot fetch the signing keys of {ISS}: [Errno 2] No such file or directory: '{path}'"


async def test_a_failed_refetch_keeps_the_cached_keys_and_retries_after_min_refresh(clock: Clock) -> None:
    """Keys held keep working while the issuer is down; the next attempt comes ``min_refresh_s`` (30 s)
    after the failure, not a whole cache period (600 s) later, and not at once."""
    k1 = new_key()
    p = Provider(ISS, [jwk(k1, "k1")])
    keys = IssuerKeys(ISS, jwks_uri=JWKS, http=p.client())
    t0 = clock.t
    await keys.key("k1")
    p.answer[JWKS] = refused
    failed_at = t0 + 600.5  # stale: a refetch is tried, and fails
    clock.t = failed_at
    assert same_key(await keys.key("k1"), k1)
    assert (len(p.requests), keys.fetches) == (2, 1)
    clock.t = failed_at + 30  # not yet: exactly min_refresh_s after the failure
    assert same_key(await keys.key("k1"), k1)
    assert len(p.requests) == 2
    del p.answer[JWKS]  # the issuer is back
    clock.t = failed_at + 30.25
    assert same_key(await keys.key("k1"), k1)
    assert (len(p.requests), keys.fetches) == (3, 2)


# The verifier's wiring of the keys ---------------------------------------------------------------------


def token(key: ec.EllipticCurvePrivateKey, kid: str, iss: str, **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": "clustergrowth", "sub": "ann", "roles": ["student"], "iat": now, "exp": now + 60}
    return jwt.encode({**claims, **over}, key, "ES256", {"kid": kid})


def test_the_verifier_gives_an_issuer_5_seconds(tmp_path: Path) -> None:
    assert Authenticator(RuntimeSettings(data_dir=tmp_path)).http.timeout == httpx.Timeout(5.0)


async def test_a_home_issuer_with_a_jwks_file(tmp_path: Path) -> None:
    home = "https://login.example.org"
    k1, k2 = new_key(), new_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(k1, "k1"), jwk(k2, "k2")]}))
    a = Authenticator(RuntimeSettings(data_dir=tmp_path, auth_issuer=home, auth_jwks_file=path))
    p = await a.verify(token(k2, "k2", home))  # the kid picks the key among two
    assert (p.sub, p.issuer, p.region, p.roles) == ("ann", home, "IE05", frozenset({"student"}))
    with pytest.raises(Unauthorized, match=r"^invalid token: Signature verification failed$"):
        await a.verify(token(k2, "k1", home))


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> dict[str, Provider]:
    """The verifier's HTTP client goes to the fake providers registered here, by host."""
    providers: dict[str, Provider] = {}

    async def route(request: httpx.Request) -> httpx.Response:
        return await providers[request.url.host](request)

    def client(timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(route), timeout=timeout)

    monkeypatch.setattr(auth, "httpx", types.SimpleNamespace(AsyncClient=client, HTTPError=httpx.HTTPError))
    return providers


async def test_issuers_found_by_discovery_and_by_jwks_uri(tmp_path: Path, network: dict[str, Provider]) -> None:
    home, partner = "https://id.example/realms/cork", "https://bologna.example"
    hk, pk = new_key(), new_key()
    network["id.example"] = Provider(home, [jwk(hk, "h1")], jwks_url=home + "/certs")
    network["bologna.example"] = Provider(partner, [])
    network["keys.example"] = Provider(partner, [jwk(pk, "p1")])
    settings = RuntimeSettings(
        data_dir=tmp_path,
        auth_issuer=home,
        auth_partners=[
            TrustedIssuer(issuer=partner, region="ITH5", jwks_uri=JWKS, roles={"staff": ["academic"]}),
        ],
    )
    a = Authenticator(settings)
    assert (await a.verify(token(hk, "h1", home))).issuer == home
    p = await a.verify(token(pk, "p1", partner, roles=["staff"]))
    assert (p.issuer, p.region, p.roles) == (partner, "ITH5", frozenset({"academic"}))
    assert network["bologna.example"].requests == []  # the partner's jwks_uri: no discovery
    assert network["keys.example"].requests == [JWKS]
    assert network["id.example"].requests == [DISCOVERY, home + "/certs"]


async def test_the_verifier_uses_the_cache_times_of_its_settings(
    tmp_path: Path, network: dict[str, Provider], clock: Clock
) -> None:
    home = "https://id.example/realms/cork"
    key = new_key()
    network["id.example"] = Provider(home, [jwk(key, "h1")])
    network["keys.example"] = Provider(home, [jwk(key, "h1")])
    settings = RuntimeSettings(
        data_dir=tmp_path, auth_issuer=home, auth_jwks_uri=JWKS, auth_jwks_cache_s=100, auth_jwks_min_refresh_s=5
    )
    a = Authenticator(settings)
    t0 = clock.t
    await a.verify(token(key, "h1", home))
    clock.t = t0 + 5.25  # an unknown kid refetches after 5 s (not the default 30)
    with pytest.raises(Unauthorized, match="does not publish"):
        await a.verify(token(key, "h9", home))
    clock.t = t0 + 5.25 + 100.25  # known keys are refetched after 100 s (not the default 600)
    await a.verify(token(key, "h1", home))
    assert network["keys.example"].requests == [JWKS] * 3
    assert network["id.example"].requests == []
