"""Paging rules without a route: the page dependency called directly, the cursor as its documented
encoding (compact JSON of the key, URL-safe base64, no padding) written out by hand, the "is there a
next page" boundary at exactly limit + 1 items, and the store asked for limit + 1 and no more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request, Response

from clustergrowth.paging import PageRequest, _parameters
from clustergrowth.problems import Unprocessable
from clustergrowth.store.sqlite import SqliteStore

# '["n3","t8"]' in base64 is WyJuMyIsInQ4Il0= ; without its padding, 15 characters
N3_T8 = "WyJuMyIsInQ4Il0"


def request(path: str = "/things", query: bytes = b"") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query, "headers": []})


def page(limit: int, after: list[Any] | None = None, query: bytes = b"") -> tuple[PageRequest, Response]:
    response = Response()
    return PageRequest(limit, after, request(query=query), response), response


def test_the_dependency_passes_limit_cursor_request_and_response_through() -> None:
    req, resp = request(), Response()
    dependency = _parameters(100)
    fresh = dependency(req, resp, 7, None)
    assert (fresh.limit, fresh.after, fresh.request, fresh.response) == (7, None, req, resp)
    assert fresh.request is req and fresh.response is resp
    later = dependency(req, resp, 1, N3_T8)  # a cursor whose padding was stripped decodes to its key
    assert (later.limit, later.after) == (1, ["n3", "t8"])


@pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJhIjogMX0"])  # the second is {"a": 1}: not a list
def test_a_bad_cursor_names_the_cursor_and_why(cursor: str) -> None:
    with pytest.raises(Unprocessable) as e:
        _parameters(50)(request(), Response(), 10, cursor)
    assert e.value.extensions["errors"] == [{"field": "cursor", "reason": "is not a cursor of this list"}]


def test_the_next_link_carries_the_last_keys_cursor_written_out_and_keeps_the_query() -> None:
    p, response = page(1, query=b"kind=x")
    assert p.of([("n4", "t19"), ("n3", "t8")], lambda k: k) == [("n3", "t8")]
    assert response.headers["link"] == f'</things?kind=x&cursor={N3_T8}&limit=1>; rel="next"'


def test_the_next_link_percent_encodes_every_name_and_value_of_the_query() -> None:
    # the fuzzer's request: a parameter named by non-Latin-1 characters (U+0085, U+A0EEE, É, U+0019) and
    # one with an empty name; a header must be Latin-1, so the Link carries them percent-encoded (UTF-8)
    p, response = page(1, query=b"=null&%C2%85%F2%A0%BB%AE%C3%89%19=x%20y")
    assert p.of([("n4", "t19"), ("n3", "t8")], lambda k: k) == [("n3", "t8")]
    assert response.headers["link"] == (
        f'</things?=null&%C2%85%F2%A0%BB%AE%C3%89%19=x%20y&cursor={N3_T8}&limit=1>; rel="next"'
    )


def test_exactly_limit_plus_one_items_has_a_next_page_and_exactly_limit_has_none() -> None:
    p, response = page(3)
    assert p.of([1, 2, 3, 4], lambda n: (n,)) == [1, 2, 3]
    assert response.headers["link"] == '</things?cursor=WzNd&limit=3>; rel="next"'  # '[3]'
    p, response = page(4)
    assert p.of([1, 2, 3, 4], lambda n: (n,)) == [1, 2, 3, 4]
    assert "link" not in response.headers


def test_an_ascending_page_starts_strictly_after_the_cursor() -> None:
    p, response = page(2, after=[2])
    assert p.of([5, 1, 4, 2, 3], lambda n: (n,)) == [3, 4]  # 2 itself was served on the page before
    assert response.headers["link"] == '</things?cursor=WzRd&limit=2>; rel="next"'  # '[4]'


def test_a_descending_page_starts_strictly_after_the_cursor() -> None:
    p, _ = page(2, after=[4])
    assert p.of([5, 1, 4, 2, 3], lambda n: (n,), newest_first=True) == [3, 2]


def test_items_with_equal_keys_keep_their_order() -> None:
    p, _ = page(10)
    assert p.of([3, 1, 2], lambda n: ("same",)) == [3, 1, 2]


class CountingStore(SqliteStore):
    """The real SQLite store, remembering how many documents each page read asked for."""

    asked: list[int]

    async def page(self, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(args[-1] if len(args) == 5 else kwargs["limit"])
        return await super().page(*args, **kwargs)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    s = CountingStore(tmp_path / "paging.sqlite")
    s.asked = []
    for i in range(5):
        await s.insert("things", {"_id": f"t{i}", "n": i})
    yield s
    await s.close()


async def test_a_store_page_reads_limit_plus_one_documents(store: CountingStore) -> None:
    p, response = page(4)
    docs = await p.query(store, "things", {}, [("n", 1)])
    assert [d["_id"] for d in docs] == ["t0", "t1", "t2", "t3"]
    assert store.asked == [5]
    assert response.headers["link"].startswith("</things?cursor=")
    p, response = page(5)
    assert len(await p.query(store, "things", {}, [("n", 1)])) == 5
    assert store.asked == [5, 6] and "link" not in response.headers
