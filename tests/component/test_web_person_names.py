"""Two people with one name are told apart (the outside attack's F2): two academics both call themselves
"Dr Deniz Y\u0131lmaz"; the post-a-challenge form's list of supervisors shows each with their platform id, so
the SME picks the one it means; and the applicants page shows every applicant's platform id and home region
beside the name. A name with a right-to-left override is refused at the API, so it is never listed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_matching_host import assessed_sme
from tests.component.test_web_pages import sign_in
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import pid

API = "/api/v1/matching"
ORG = "Cork Precision Tooling"  # the demo SME member's organisation
SPAN = {"languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-06-30"}
NAME = "Dr Deniz Yılmaz"


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


def options(page: str) -> list[tuple[str, str]]:
    found = re.search(r'<select id="supervisor" name="supervisor"[^>]*>(.*?)</select>', page, re.S)
    assert found, "no list of supervisors"
    return [(v, unescape(t)) for v, t in re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', found.group(1))]


async def test_two_supervisors_with_one_name_are_listed_with_their_platform_ids(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    csrf = await sign_in(client, "demo-sme")
    await assessed_sme(client, csrf, "3", ORG)
    for sub in ("deniz-real", "deniz-fake"):
        body = {"kind": "academic", "display_name": NAME, "skills": ["cad"], **SPAN}
        r = await client.put(f"{API}/candidates/me", json=body, headers={"Authorization": token(sub, "academic")})
        assert r.status_code == 200, r.text
    bidi = {"kind": "academic", "display_name": f"{NAME}\u202e", **SPAN}
    r = await client.put(f"{API}/candidates/me", json=bidi, headers={"Authorization": token("deniz-bidi", "academic")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "display_name"

    listed = options((await client.get("/matching/hosting/new")).text)
    # by id (the API's order); the two texts differ by the id alone, written out here
    assert listed == sorted(
        [
            (pid("deniz-real"), f"Dr Deniz Yılmaz ({pid('deniz-real')}) · cad"),
            (pid("deniz-fake"), f"Dr Deniz Yılmaz ({pid('deniz-fake')}) · cad"),
        ]
    )
    assert len({text for _, text in listed}) == 2
    assert all(pid("deniz-bidi") != value for value, _ in listed)
