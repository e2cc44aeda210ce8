"""The bearer credential of a request, read one way by everyone who reads it.

The verifier (``clustergrowth.auth``) and the token quotas of both front doors (``gateway.limits`` and
``gateway/edge/src/quotas.rs``) must agree on which token a header carries: if the quota keyed a
different spelling of the header than the verifier accepts, every spelling would buy a fresh quota.

One token can also have two spellings itself: an ECDSA signature (r, s) verifies as (r, n - s) too, so
an ES256 JWT has a twin that is another string. The quota of a JWT is therefore keyed on what was signed
(the JWS signing input, ``header.payload``), which no one but the issuer can change; the verifier's
base64url decoding is strict (PyJWT refuses non-canonical segments) and it refuses padding, so the
signature's encoding adds no further spelling.
"""

from __future__ import annotations

import hashlib
import re

# RFC 9110 §11.4: the scheme (case-insensitive), one or more SP, then RFC 6750 §2.1's b68token; a
# field value's trailing whitespace (SP / HTAB) is not part of it (RFC 9110 §5.5).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*")
# JWS compact serialisation (RFC 7515 §7.1): three base64url segments (no padding), the first two signed.
_JWS = re.compile(r"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")


def bearer_token(header: str | bytes) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, or None when it is anything else."""
    if isinstance(header, bytes):
        header = header.decode("latin-1")  # as Starlette decodes header values
    m = _BEARER.fullmatch(header)
    return m.group(1) if m else None


def quota_subject(token: str) -> str:
    """What a token quota counts: a JWT's signing input (``header.payload``, before the last ``.``) when the
    token has JWS shape, so both spellings of an ECDSA signature name one quota; else the whole token."""
    m = _JWS.fullmatch(token)
    return m.group(1) if m else token


def quota_key(token: str) -> str:
    """The token quota's key, as both front doors name it: a hash of ``Bearer <quota_subject(token)>``."""
    return hashlib.sha256(f"Bearer {quota_subject(token)}".encode()).hexdigest()[:24]
