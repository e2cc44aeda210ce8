"""Cursor pagination for every list route: a capped ``limit``, an opaque ``cursor``, and a
``Link: <…>; rel="next"`` header (RFC 8288) while more remain.

The cursor is the sort key of the last item served, so a page never repeats or skips an item when
others are added or removed meanwhile (keys are unique: they end with the object's id). The link is
a relative reference, so it stays right behind the gateway in either mode.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from clustergrowth.problems import field_error

T = TypeVar("T")
MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size (at most {MAX_LIMIT})")]
Cursor = Annotated[str | None, Query(max_length=512, description='opaque; from the previous page\'s Link: rel="next"')]


def _encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise field_error("cursor", "is not a cursor of this list") from e
    if not isinstance(key, list):
        raise field_error("cursor", "is not a cursor of this list")
    return key


def paginate(
    items: Sequence[T],
    key: Callable[[T], Sequence[Any]],
    *,
    limit: int,
    cursor: str | None,
    request: Request,
    response: Response,
    newest_first: bool = False,
) -> list[T]:
    """One page of ``items`` ordered by ``key`` (descending with ``newest_first``), and its Link."""
    keyed = sorted(((list(key(i)), i) for i in items), key=lambda p: p[0], reverse=newest_first)
    if cursor is not None:
        after = _decode(cursor)
        try:
            keyed = [(k, i) for k, i in keyed if (k < after if newest_first else k > after)]
        except TypeError as e:  # a cursor of another list: keys of other types
            raise field_error("cursor", "is not a cursor of this list") from e
    page = keyed[:limit]
    if len(keyed) > limit:
        query = dict(request.query_params)
        query.update(cursor=_encode(page[-1][0]), limit=str(limit))
        target = request.url.path + "?" + "&".join(f"{k}={_quote(v)}" for k, v in query.items())
        response.headers["Link"] = f'<{target}>; rel="next"'
    return [i for _, i in page]


def _quote(v: str) -> str:
    from urllib.parse import quote

    return quote(v, safe="")
