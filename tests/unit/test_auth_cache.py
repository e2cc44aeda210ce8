"""A verified token is remembered: its signature is not checked again, but its lifetime and its signing
key are, by the same rules as a first verification (PyJWT's, with 30 s of leeway), on a clock the test
moves: PyJWT's (``jwt.api_jwt.datetime``) and the authenticator's are set to the same instant."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clustergrowth import auth
from clustergrowth.auth import Authenticator, DevIssuer
from clustergrowth.problems import Unauthorized
from clustergrowth.settings import RuntimeSettings

T = 1_700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> float:
        return float(self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()

    class Moved(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Moved:
            return cls.fromtimestamp(c.now, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Moved)
    return c


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every signature check the authenticator asks PyJWT for (decodes with a key)."""
    checked: list[str] = []
    real = jwt.decode

    def decode(token: str, key: Any = None, *args: Any, **kw: Any) -> Any:
        if key is not None:
            checked.append(token)
        return real(token, key, *args, **kw)

    monkeypatch.setattr(jwt, "decode", decode)
    return checked


def token(settings: RuntimeSettings, key: Any = None, **times: int) -> str:
    claims = {"iss": settings.auth_issuer, "aud": settings.auth_audience, "sub": "alice", "roles": ["student"]}
    signer = key or DevIssuer(settings.data_dir).private_key()
    return jwt.encode({**claims, "iat": T - 10, "exp": T + 100, **times}, signer, "ES256", {"kid": "dev-1"})


async def outcome(a: Authenticator, tok: str) -> str:
    try:
        await a.verify(tok)
    except Unauthorized as e:
        return "expired" if "expired" in str(e) else "not yet valid" if "not yet valid" in str(e) else str(e)
    return "accepted"


async def test_a_second_verification_checks_no_signature_and_gives_the_same_principal(
    settings: RuntimeSettings, clock: Clock, signatures: list[str]
) -> None:
    a = Authenticator(settings)
    a.clock = clock
    tok = token(settings)
    first = await a.verify(tok)
    second = await a.verify(tok)
    assert (first, len(signatures)) == (second, 1)


async def test_a_remembered_token_expires_at_exp_plus_30_seconds_and_not_before(
    settings: RuntimeSettings, clock: Clock, signatures: list[str]
) -> None:
    a = Authenticator(settings)
    a.clock = clock
    tok = token(settings)  # exp = T + 100
    assert await outcome(a, tok) == "accepted"
    clock.now = T + 100 + 29
    assert (await outcome(a, tok), len(signatures)) == ("accepted", 1)  # from memory
    clock.now = T + 100 + 30
    assert (await outcome(a, tok), len(signatures)) == ("expired", 2)  # checked again, and refused


async def test_a_remembered_token_is_not_valid_before_nbf_minus_30_seconds(
    settings: RuntimeSettings, clock: Clock
) -> None:
    a = Authenticator(settings)
    a.clock = clock
    clock.now = T + 70
    tok = token(settings, nbf=T + 100, iat=T + 100)
    assert await outcome(a, tok) == "accepted"  # nbf - 30
    clock.now = T + 69  # the clock stepped back one second: the token is not valid yet
    assert await outcome(a, tok) == "not yet valid"


async def test_a_remembered_token_is_refused_once_its_key_is_no_longer_published(
    settings: RuntimeSettings, clock: Clock, signatures: list[str]
) -> None:
    a = Authenticator(settings)
    a.clock = clock
    tok = token(settings)
    assert await outcome(a, tok) == "accepted"
    keys = a.trust[settings.auth_issuer].keys.keys
    keys["dev-1"] = ec.generate_private_key(ec.SECP256R1()).public_key()  # the issuer rotated its key
    assert (await outcome(a, tok), len(signatures)) == ("invalid token: Signature verification failed", 2)


async def test_at_most_verified_tokens_are_remembered_the_least_recent_dropped(
    settings: RuntimeSettings, clock: Clock, signatures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 2)
    a = Authenticator(settings)
    a.clock = clock
    t1, t2, t3 = (token(settings, exp=T + 100 + i) for i in range(3))
    for t in (t1, t2, t1, t3):  # t1 used again after t2: t2 is the least recently used when t3 comes
        await a.verify(t)
    assert len(signatures) == 3 and len(a._verified) == 2
    await a.verify(t1)
    assert len(signatures) == 3  # still remembered
    await a.verify(t2)
    assert signatures[-1] == t2 and len(signatures) == 4  # dropped, so checked again
