"""The bearer credential as the verifier reads it (RFC 9110 §11.4, RFC 6750 §2.1). The same vectors are in
gateway/edge/src/quotas.rs: both fronts key the token quota on this reading, so the two must agree."""

from __future__ import annotations

import pytest

from clustergrowth.credentials import bearer_token

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
