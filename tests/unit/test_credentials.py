"""The bearer credential as the verifier reads it (RFC 9110 §11.4, RFC 6750 §2.1), and the token quota's key:
a JWS's signing input, else the whole token. The same vectors are in gateway/edge/src/quotas.rs: both fronts
key the token quota on this reading, so the two must agree."""

from __future__ import annotations

import hashlib

import jwt
import pytest

from clustergrowth.credentials import bearer_token, quota_key, quota_subject
from tests.jws import ecdsa_twin

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_~+/9=="

PREFIXES = ["Bearer ", "bearer ", "BEARER ", "BeArEr ", "Bearer   ", "BEARER  "]
SUFFIXES = ["", " ", "\t", " \t \t"]
SAME = [prefix + TOKEN + suffix for prefix in PREFIXES for suffix in SUFFIXES]

REFUSED = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer   ",
    f"Bearer{TOKEN}",
    f"Bearer\t{TOKEN}",  # the scheme is followed by SP, not HTAB
    f" Bearer {TOKEN}",  # servers strip a field's leading whitespace before anyone reads it
    f"Basic {TOKEN}",
    f"Bearerx {TOKEN}",
    f"Bear {TOKEN}",
    "Bearer a b",
    "Bearer a,b",
    "Bearer a=b",
    "Bearer =abc",
    'Bearer "abc"',
    "Bearer abc\r",
    "Bearer abc\n",
    "Bearer abc\x0b",
    "Bearer abc\x00",
    "Bearer ab\u00e7",
    "Bearer abc\u00a0",
    "Bearer abc\u3000",
    "Bearer\u00a0abc",
    "B\u0435arer abc",  # a Cyrillic e
    "Beare\u00e9 abc",
    "Bearer abc, Bearer def",
]


@pytest.mark.parametrize("header", SAME)
def test_spellings_of_one_credential_name_one_token(header: str) -> None:
    assert bearer_token(header) == TOKEN
    assert bearer_token(header.encode("latin-1")) == TOKEN


@pytest.mark.parametrize("header", REFUSED)
def test_anything_else_is_no_bearer_token(header: str) -> None:
    assert bearer_token(header) is None
    raw = header.encode("utf-8")
    assert bearer_token(raw) is None


def test_token_characters_are_rfc_6750s() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
    assert bearer_token("Bearer " + alphabet + "=") == alphabet + "="
    for c in map(chr, range(0x21, 0x7F)):
        if c not in alphabet:
            assert bearer_token(f"Bearer a{c}b") is None, repr(c)
    assert bearer_token(b"Bearer \xffabc") is None


# An ES256 token of a fixed key, and its twin: the signature (r, s) respelt (r, n - s). The same vectors are
# in gateway/edge/src/quotas.rs, with the key both fronts derive from them.
VECTOR_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "ttxSzF86qRQrdiU4YbSy59r4eHfpy0rWSAwpi3Jv_jw",
    "y": "3EQ0fukQflteH1WBv8RrZOUwG6nzV9Ijeef2vGxEFbY",
}
SIGNED = "eyJhbGciOiJFUzI1NiIsImtpZCI6InYiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhIn0"
VECTOR = SIGNED + ".-LjcdENCmedA4SE-7seBOKulAl_BJ1JlXl7Pi7Hl5oNn2xf-AoLIEH05iSkBbCpJ362yWFiVwVFR5O2Knrznjg"
VECTOR_TWIN = SIGNED + ".-LjcdENCmedA4SE-7seBOKulAl_BJ1JlXl7Pi7Hl5oOYJOgA_X038ILGdtb-k9W13TlIVU6B3TOh1N04XaY9ww"
VECTOR_KEY = "baa37b311e5ca03665cb8597"  # sha256("Bearer " + SIGNED), 24 hex digits


def test_an_ecdsa_twin_names_the_quota_of_its_token() -> None:
    assert ecdsa_twin(VECTOR) == VECTOR_TWIN
    key = jwt.PyJWK(VECTOR_JWK).key
    for spelling in (VECTOR, VECTOR_TWIN):  # both verify: one credential, two spellings
        assert jwt.decode(spelling, key, algorithms=["ES256"]) == {"sub": "a"}
        assert quota_subject(spelling) == SIGNED
        assert quota_key(spelling) == VECTOR_KEY


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "abc.def",
        "a.b.c.d",
        ".b.c",
        "a..c",
        "a.b.",
        TOKEN,
        # the verifier refuses padding, and its base64url decoding is strict
        *(SIGNED + tail for tail in (".", ".c2ln==", ".c2l+", ".c2l/", ".c2l~")),
    ],
)
def test_a_token_not_shaped_as_a_jws_is_keyed_whole(token: str) -> None:
    assert quota_subject(token) == token
    assert quota_key(token) == hashlib.sha256(f"Bearer {token}".encode()).hexdigest()[:24]


def test_keys_are_the_ones_both_fronts_used_for_opaque_tokens() -> None:
    assert quota_key("x") == "b937a6fd6074f3650930dd9a"
    assert quota_subject("a.b.c") == "a.b"
    assert quota_key("a.b.c") == quota_key("a.b.d") == hashlib.sha256(b"Bearer a.b").hexdigest()[:24]
