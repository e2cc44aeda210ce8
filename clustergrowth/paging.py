"""Cursor pagination for every list route: a capped ``limit``, an opaque ``cursor``, and a
``Link: <…>; rel="next"`` header (RFC 8288) while more remain.

A list route takes one parameter, ``page: Page`` (or ``Page200``/``Page50``: the same parameters with
another default limit), and answers with ``await page.query(store, collection, filter, sort)``: the
store seeks to the cursor and reads ``limit + 1`` documents (``DocumentStore.page``), so a page costs
O(limit), not O(every match). A list computed in memory from something already bounded (one
document's history, a projection of regions x sectors) uses ``page.of(items, key)`` instead.

The cursor is the sort key of the last item served, ending with its id, so a page never repeats or
skips an item when others are added or removed meanwhile. The link is a relative reference, so it
stays right behind the gateway in either mode.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Query, Request, Response

from clustergrowth.problems import Unprocessable, field_error
from clustergrowth.store.port import Doc, DocumentStore, check_after, page_key, total_order

T = TypeVar("T")
MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size (at most {MAX_LIMIT})")]
Cursor = Annotated[str | None, Query(max_length=512, description='opaque; from the previous page\'s Link: rel="next"')]


def _bad_cursor() -> Unprocessable:
    return field_error("cursor", "is not a cursor of this list")


def _encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise _bad_cursor() from e
    if not isinstance(key, list):
        raise _bad_cursor()
    return key


@dataclass(frozen=True)
class PageRequest:
    """A list request's page: its size, the key it starts after, and where its Link goes."""

    limit: int
    after: list[Any] | None
    request: Request
    response: Response

    async def query(
        self, store: DocumentStore, collection: str, filter: Doc | None, sort: list[tuple[str, int]]
    ) -> list[Doc]:
        """One page of a store query (the store seeks to the cursor), and its Link."""
        order = total_order(sort)
        try:
            check_after(self.after, order)
        except ValueError as e:  # a cursor of another list: another key shape
            raise _bad_cursor() from e
        docs = await store.page(collection, filter, order, self.after, self.limit + 1)
        return self.cut(docs, lambda d: page_key(d, order))

    def of(self, items: Sequence[T], key: Callable[[T], Sequence[Any]], *, newest_first: bool = False) -> list[T]:
        """One page of a list already in memory, ordered by ``key`` (descending with ``newest_first``)."""
        keyed = sorted(((list(key(i)), i) for i in items), key=lambda p: p[0], reverse=newest_first)
        if self.after is not None:
            after = self.after
            try:
                keyed = [(k, i) for k, i in keyed if (k < after if newest_first else k > after)]
            except TypeError as e:  # a cursor of another list: keys of other types
                raise _bad_cursor() from e
        page = self.cut(keyed[: self.limit + 1], lambda p: p[0])
        return [i for _, i in page]

    def cut(self, fetched: Sequence[T], key: Callable[[T], Sequence[Any]]) -> list[T]:
        """The first ``limit`` of ``fetched`` (read ``limit + 1`` to know whether more remain); sets the
        Link to the next page, whose cursor is the key of this page's last item, while more remain."""
        page = list(fetched[: self.limit])
        if len(fetched) > self.limit:
            query = dict(self.request.query_params)
            query.update(cursor=_encode(key(page[-1])), limit=str(self.limit))
            pairs = (f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
            target = quote(self.request.url.path, safe="/") + "?" + "&".join(pairs)
            self.response.headers["Link"] = f'<{target}>; rel="next"'
        return page


def _parameters(default: int) -> Callable[..., PageRequest]:
    def page(request: Request, response: Response, limit: Limit = default, cursor: Cursor = None) -> PageRequest:
        return PageRequest(limit, None if cursor is None else _decode(cursor), request, response)

    return page


Page = Annotated[PageRequest, Depends(_parameters(100))]
Page50 = Annotated[PageRequest, Depends(_parameters(50))]
Page200 = Annotated[PageRequest, Depends(_parameters(MAX_LIMIT))]
