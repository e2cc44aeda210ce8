"""Token verification: issuer, audience, expiry, algorithm allow-list, tampering."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clustergrowth.auth import Authenticator, DevIssuer
from clustergrowth.problems import Unauthorized
from clustergrowth.settings import DEV_ISSUER, RuntimeSettings, TrustedIssuer


def claims(settings: RuntimeSettings, **over: object) -> dict[str, object]:
    now = int(time.time())
    base = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": "alice",
        "roles": ["student"],
        "region": "IE05",
        "iat": now,
        "exp": now + 60,
    }
    return {**base, **over}


async def test_a_dev_token_verifies_to_a_principal(settings: RuntimeSettings) -> None:
    tok = DevIssuer(settings.data_dir).mint(settings, "alice", ["student", "bogus"], "ITH5", "UNIBO")
    p = await Authenticator(settings).verify(tok)
    assert (p.sub, p.roles, p.region, p.org) == ("alice", frozenset({"student"}), "ITH5", "UNIBO")


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("expired", "expired"),
        ("wrong_issuer", "issuer"),
        ("wrong_audience", "(?i)audience"),
        ("other_key", "(?i)signature"),
        ("alg_none", "algorithm"),
        ("hs256", "algorithm"),
        ("tampered", "(?i)signature"),
        ("garbage", "malformed"),
    ],
)
async def test_bad_tokens_are_refused(settings: RuntimeSettings, case: str, match: str) -> None:
    key = DevIssuer(settings.data_dir).private_key()
    auth = Authenticator(settings)
    hdr = {"kid": "dev-1"}
    if case == "expired":
        tok = jwt.encode(claims(settings, exp=int(time.time()) - 3600), key, "ES256", hdr)
    elif case == "wrong_issuer":
        tok = jwt.encode(claims(settings, iss="https://evil.example"), key, "ES256", hdr)
    elif case == "wrong_audience":
        tok = jwt.encode(claims(settings, aud="someone-else"), key, "ES256", hdr)
    elif case == "other_key":
        tok = jwt.encode(claims(settings), ec.generate_private_key(ec.SECP256R1()), "ES256", hdr)
    elif case == "alg_none":
        tok = jwt.encode(claims(settings), None, "none")
    elif case == "hs256":
        tok = jwt.encode(claims(settings), "secret-secret-secret-secret-secret!", "HS256", hdr)
    elif case == "tampered":
        good = jwt.encode(claims(settings), key, "ES256", hdr)
        head, body, sig = good.split(".")
        payload = json.loads(base64.urlsafe_b64decode(body + "=="))
        payload["roles"] = ["platform_admin"]
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        tok = f"{head}.{body}.{sig}"
    else:
        tok = "not-a-token"
    with pytest.raises(Unauthorized, match=match):
        await auth.verify(tok)


def test_settings_refuse_weak_algorithms_and_production_without_a_real_issuer() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        RuntimeSettings(auth_algorithms=["HS256"])
    with pytest.raises(ValueError, match="real auth_issuer"):
        RuntimeSettings(environment="production")
    RuntimeSettings(environment="production", auth_issuer="https://login.example.org")  # keys by discovery
    with pytest.raises(ValueError, match="NUTS-2"):
        RuntimeSettings(region="Cork")
    with pytest.raises(ValueError, match="NUTS-2"):
        TrustedIssuer(issuer="https://id.example", region="Bologna")
    with pytest.raises(ValueError, match="extra"):
        TrustedIssuer(issuer="https://id.example", region="ITH5", trust_everyone=True)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="partner issuer"):
        RuntimeSettings(auth_partners=[TrustedIssuer(issuer=DEV_ISSUER, region="ITH5")])
