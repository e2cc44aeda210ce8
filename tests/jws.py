"""JWS helpers for tests: the second spelling of an ECDSA signature."""

from __future__ import annotations

import base64

# The order n of the P-256 group (SEC 2, secp256r1): (r, s) and (r, n - s) are both valid signatures.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ecdsa_twin(token: str) -> str:
    """The same ES256 JWT with its signature (r, s) spelt (r, n - s): another string, just as valid."""
    signing_input, signature = token.rsplit(".", 1)
    raw = b64url_decode(signature)
    assert len(raw) == 64, "an ES256 signature is r || s, 32 bytes each"
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    twin = b64url_encode(r + (P256_ORDER - s).to_bytes(32, "big"))
    assert twin != signature
    return f"{signing_input}.{twin}"
