"""The web client against odd requests (found by an outside attack): a path parameter carrying ``?``,
``#``, a quote or a line break stays inside its segment of the API's path (a 404, never another URL, a
spoofed header or a 500); ``.``/``..`` never climb; a form's bytes are counted as they arrive (a chunked
body has no Content-Length), at most 200 fields, URL-encoded only; a day far from today is shown as today
(ten years either side: at the bound as asked, one day past as today); ``/facilities/series/mine`` is no
series."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_pages import sign_in
from tests.conftest import asgi_client
from web.app import MAX_FORM_BYTES

SITE = "ork-rubicon"  # the demo's site in Cork, Europe/Dublin


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


@pytest.mark.parametrize(
    "path",
    [
        "/councils/council-cork%3F%22%3B%20filename%3D%22evil.html/spotlight.csv",
        "/councils/council-cork%3F%E2%80%AE/spotlight.csv",
        "/councils/council-cork%0d%0aX-Evil:%201/spotlight.csv",
        "/councils/council-cork%3Fx/meetings/new",
        "/councils/council-cork%23x",
        f"/facilities/sites/{SITE}%3Fx=1",
        "/facilities/sites/%3F",
        "/facilities/sites/%2E%2E",  # .. once decoded
        "/facilities/series/mine",
    ],
)
async def test_a_smuggled_path_parameter_is_not_found(client: httpx.AsyncClient, path: str) -> None:
    await sign_in(client, "demo-secretary")
    r = await client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "content-disposition" not in r.headers and "x-evil" not in r.headers


async def test_the_same_pages_answer_for_a_plain_parameter(client: httpx.AsyncClient) -> None:
    await sign_in(client, "demo-secretary")
    assert (await client.get(f"/facilities/sites/{SITE}")).status_code == 200
    assert (await client.get("/councils/council-cork")).status_code == 200


async def test_a_chunked_form_is_counted_as_it_arrives(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)

    async def chunks(total: int) -> AsyncIterator[bytes]:
        yield f"csrf={csrf}&lang=es&next=/&pad=".encode()
        for _ in range(total // 1024):
            yield b"a" * 1024

    headers = {"content-type": "application/x-www-form-urlencoded"}
    big = await client.post("/language", content=chunks(MAX_FORM_BYTES + 1024), headers=headers)
    assert big.status_code == 413 and "content-length" not in big.request.headers
    small = await client.post("/language", content=chunks(MAX_FORM_BYTES // 2), headers=headers)
    assert small.status_code == 303  # the same form, inside the bound


async def test_a_form_is_bounded_in_fields_and_kind(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    fields = {"csrf": csrf, "lang": "es", "next": "/"}
    at_bound = fields | {f"f{i}": "x" for i in range(200 - len(fields))}
    assert (await client.post("/language", data=at_bound)).status_code == 303
    over = fields | {f"f{i}": "x" for i in range(201 - len(fields))}
    assert (await client.post("/language", data=over)).status_code == 400
    multipart = await client.post("/language", data=fields, files={"f": ("a.txt", b"x")})
    assert multipart.status_code == 415


async def test_a_day_far_from_today_is_shown_as_today(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    today = datetime.now(ZoneInfo("Europe/Dublin")).date()

    async def shown(day: date | str) -> str:
        r = await client.get(f"/facilities/sites/{SITE}", params={"day": str(day)})
        assert r.status_code == 200
        return re.search(r'id="day"[^>]*value="([0-9-]+)"', r.text).group(1)  # type: ignore[union-attr]

    assert await shown(today + timedelta(days=3660)) == str(today + timedelta(days=3660))
    assert await shown(today + timedelta(days=3661)) == str(today)
    assert await shown(today - timedelta(days=3661)) == str(today)
    assert await shown("9999-12-31") == str(today)
    r = await client.get(f"/facilities/sites/{SITE}", params={"week": "9999-12-31"})
    assert r.status_code == 200
