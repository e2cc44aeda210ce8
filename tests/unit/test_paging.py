"""The Page dependency: one declaration of limit and cursor, pages from the store or from memory."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.errors import install_problem_handlers
from clustergrowth.paging import MAX_LIMIT, Page, Page50
from clustergrowth.store.sqlite import SqliteStore


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = SqliteStore(tmp_path / "paging.sqlite")
    await store.ensure_index("things", ["name", "_id"])
    for i in range(23):
        await store.insert("things", {"_id": f"t{i:02d}", "name": f"n{i % 5}", "kind": "xy"[i % 2]})
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/things")
    async def things(page: Page, kind: str | None = None) -> list[dict[str, Any]]:
        return await page.query(store, "things", {"kind": kind} if kind else {}, [("name", -1)])

    @app.get("/numbers")
    async def numbers(page: Page50) -> list[int]:
        return page.of(list(range(120)), lambda n: (n,), newest_first=True)  # already in memory

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c
    await store.close()


async def _walk(client: httpx.AsyncClient, url: str) -> tuple[list[Any], int]:
    items: list[Any] = []
    pages = 0
    while url:
        r = await client.get(url)
        assert r.status_code == 200, r.text
        items += r.json()
        link = r.headers.get("link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else ""  # type: ignore[union-attr]
        pages += 1
    return items, pages


async def test_a_store_list_walks_page_by_page_in_order_keeping_its_filters(client: httpx.AsyncClient) -> None:
    whole = (await client.get("/things", params={"limit": 200})).json()
    assert [d["_id"] for d in whole] == sorted((d["_id"] for d in whole), key=lambda i: (-(int(i[1:]) % 5), i))
    items, pages = await _walk(client, "/things?limit=4")
    assert items == whole and pages == 6
    xs, _ = await _walk(client, "/things?kind=x&limit=3")
    assert xs == [d for d in whole if d["kind"] == "x"]


async def test_an_in_memory_list_uses_the_same_parameters(client: httpx.AsyncClient) -> None:
    r = await client.get("/numbers")
    assert r.json() == list(range(119, 69, -1)) and r.headers["link"]  # this route's default limit: 50
    items, pages = await _walk(client, "/numbers?limit=7")
    assert items == list(range(119, -1, -1)) and pages == 18
    assert (await client.get("/numbers", params={"cursor": "not-a-cursor"})).status_code == 422


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),  # not a list
        base64.urlsafe_b64encode(b'["n1"]').decode(),  # the key of another list: (name, _id) has two values
        base64.urlsafe_b64encode(b'[{"$gt": ""}, "t01"]').decode(),
        base64.urlsafe_b64encode(b'["n1", null]').decode(),
        base64.urlsafe_b64encode(json.dumps([1e400, "t"]).encode()).decode(),
    ],
)
async def test_a_bad_cursor_is_a_422_naming_it(client: httpx.AsyncClient, cursor: str) -> None:
    r = await client.get("/things", params={"cursor": cursor})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor", r.text


async def test_the_limit_is_capped(client: httpx.AsyncClient) -> None:
    assert (await client.get("/things", params={"limit": MAX_LIMIT + 1})).status_code == 422
    assert (await client.get("/things", params={"limit": 0})).status_code == 422
