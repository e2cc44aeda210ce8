"""Token verification: issuer, audience, expiry, algorithm allow-list, tampering."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, tzinfo
from pathlib import Path

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
    assert (p.sub, p.roles, p.region, p.org) == ("alice", frozenset({"student"}), "ITH5", "IE05:UNIBO")


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
        tok = jwt.encode(claims(settings), None, "none")  # type: ignore[arg-type]
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
    with pytest.raises(ValueError, match="its own region"):  # organisations would share a namespace
        RuntimeSettings(region="IE05", auth_partners=[TrustedIssuer(issuer="https://id.example", region="IE05")])
    two = [TrustedIssuer(issuer=f"https://id{i}.example", region="ITH5") for i in (1, 2)]
    with pytest.raises(ValueError, match="its own region"):
        RuntimeSettings(auth_partners=two)
    same = [TrustedIssuer(issuer="https://id.example", region=r) for r in ("ITH5", "FR10")]
    with pytest.raises(ValueError, match="each issuer once"):
        RuntimeSettings(auth_partners=same)
    with pytest.raises(ValueError, match="each issuer once"):
        RuntimeSettings(
            auth_partners=[TrustedIssuer(issuer=DEV_ISSUER + "x", region="ITH5")], auth_issuer=DEV_ISSUER + "x"
        )


async def test_staff_roles_of_the_home_issuer_count_only_for_this_region(settings: RuntimeSettings) -> None:
    """Region-scoped roles (region_admin, council_secretary, platform_admin) are dropped from a home token
    that names another region; organisation and network roles stay (the rule, written out here)."""
    auth, issuer = Authenticator(settings), DevIssuer(settings.data_dir)
    every = ["region_admin", "council_secretary", "platform_admin", "analyst", "student", "sme_member"]
    here = await auth.verify(issuer.mint(settings, "x", every, "IE05", "MTU"))
    assert here.roles == frozenset(every)
    away = await auth.verify(issuer.mint(settings, "x", every, "FR10", "MTU"))
    assert away.roles == frozenset({"analyst", "student", "sme_member"}) and away.region == "FR10"
    assert away.org == "IE05:MTU"  # the organisation is the home issuer's, whatever region the token names


@pytest.mark.parametrize(("claim", "org"), [("MTU", "IE05:MTU"), ("UCC", None), ("", None), ("a\nb", None)])
async def test_registered_organisations_map_claims_to_platform_ids(claim: str, org: str | None, tmp_path: Path) -> None:
    """With a registry, only registered claims become organisations; control characters never do."""
    settings = RuntimeSettings(data_dir=tmp_path, auth_organisations=["MTU", "a\nb"])
    key = DevIssuer(settings.data_dir).private_key()
    tok = jwt.encode(claims(settings, org=claim), key, "ES256", {"kid": "dev-1"})
    assert (await Authenticator(settings).verify(tok)).org == org


@pytest.mark.parametrize("sub", ["", "x" * 256, 42, ["a"]])
async def test_subjects_must_be_short_strings(settings: RuntimeSettings, sub: object) -> None:
    key = DevIssuer(settings.data_dir).private_key()
    tok = jwt.encode(claims(settings, sub=sub), key, "ES256", {"kid": "dev-1"})
    with pytest.raises(Unauthorized):
        await Authenticator(settings).verify(tok)


async def test_a_subject_of_255_characters_is_accepted(settings: RuntimeSettings) -> None:
    key = DevIssuer(settings.data_dir).private_key()
    tok = jwt.encode(claims(settings, sub="x" * 255), key, "ES256", {"kid": "dev-1"})
    assert (await Authenticator(settings).verify(tok)).sub == "x" * 255


# Token lifetime at its edges, on a fixed clock ----------------------------------------------------------
# PyJWT reads the time as `datetime.now(tz=utc)` in its `jwt.api_jwt` module; the fixture below fixes that
# clock (no sleeping, no race with the second hand). The rule, from RFC 7519 §4.1.4-5 with the verifier's
# 30 s leeway: a token is refused from exp + 30 s on, and accepted from nbf - 30 s on.
FIXED = 1_700_000_000  # in the past, so a token "expired 29 s ago" here is long expired on the real clock


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            return cls.fromtimestamp(FIXED, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Frozen)
    return FIXED


async def lifetime(settings: RuntimeSettings, **times: int) -> str:
    """'accepted' or why the verifier refused a token with these time claims."""
    key = DevIssuer(settings.data_dir).private_key()
    tok = jwt.encode(claims(settings, iat=FIXED - 3600, **times), key, "ES256", {"kid": "dev-1"})
    try:
        await Authenticator(settings).verify(tok)
    except Unauthorized as e:
        return "expired" if "expired" in str(e) else "not yet valid" if "not yet valid" in str(e) else str(e)
    return "accepted"


async def test_expiry_has_30_seconds_of_leeway_and_not_one_more(settings: RuntimeSettings, fixed_clock: int) -> None:
    now = fixed_clock
    ago = {s: await lifetime(settings, exp=now - s) for s in (0, 1, 29, 30, 31, 3600)}
    assert ago == {0: "accepted", 1: "accepted", 29: "accepted", 30: "expired", 31: "expired", 3600: "expired"}


async def test_not_before_has_30_seconds_of_leeway_and_not_one_more(
    settings: RuntimeSettings, fixed_clock: int
) -> None:
    now = fixed_clock
    ahead = {s: await lifetime(settings, nbf=now + s, exp=now + 3600) for s in (0, 29, 30, 31, 3600)}
    assert ahead == {0: "accepted", 29: "accepted", 30: "accepted", 31: "not yet valid", 3600: "not yet valid"}
