"""The bearer credential of a request, read one way by everyone who reads it.

The verifier (``clustergrowth.auth``) and the token quotas of both front doors (``gateway.limits`` and
``gateway/edge/src/quotas.rs``) must agree on which token a header carries: if the quota keyed a
different spelling of the header than the verifier accepts, every spelling would buy a fresh quota.
"""

from __future__ import annotations

import re

# RFC 9110 §11.4: the scheme (case-insensitive), one or more SP, then RFC 6750 §2.1's b68token; a
# field value's trailing whitespace (SP / HTAB) is not part of it (RFC 9110 §5.5).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*")


def bearer_token(header: str | bytes) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, or None when it is anything else."""
    if isinstance(header, bytes):
        header = header.decode("latin-1")  # as Starlette decodes header values
    m = _BEARER.fullmatch(header)
    return m.group(1) if m else None
