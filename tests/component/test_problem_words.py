"""An API refusal reaches the person in her language: the API names the validator's code and limits
beside its English reason, and the web client words it in the page's language next to the field, with
the status said in words above; a rule's reason, English only, is marked as English."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_pages import SME_FORM, sign_in
from tests.conftest import TokenFactory, asgi_client


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


async def test_the_api_names_the_code_and_its_limits(client: httpx.AsyncClient, token: TokenFactory) -> None:
    body = {
        "legal_name": "x" * 301,
        "country": "IE",
        "region": "IE05",
        "nuts3": "IE053",
        "nace_primary": "C28.29",
        "headcount": 1_000_001,
        "turnover_eur": 1,
        "balance_sheet_eur": 1,
        "founded": 2004,
        "contact": {"name": "A", "email": "a@example.org"},
        "consent": {"lawful_basis": "consent"},
    }
    r = await client.post("/api/v1/mapping/smes", json=body, headers={"Authorization": token("u1", "sme_member")})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert errors["legal_name"]["code"] == "string_too_long" and errors["legal_name"]["limits"] == {"max_length": 300}
    assert errors["headcount"]["code"] == "less_than_equal"
    assert errors["headcount"]["limits"] == {"le": 1_000_000}
    assert errors["headcount"]["reason"]  # the English reason stays


async def test_a_turkish_page_words_the_refusal(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    await client.post("/language", data={"csrf": csrf, "lang": "tr", "next": "/"})
    r = await client.post(
        "/assessment/register", data={"csrf": csrf, **SME_FORM, "legal_name": "x" * 301, "headcount": "1000001"}
    )
    assert r.status_code == 422
    assert re.search(r'id="legal_name-error"><strong>[^<]+</strong> En fazla 300 karakter girin\.</p>', r.text)
    headcount = r'id="headcount-error"><strong>[^<]+</strong> En fazla 1\.000\.000 olan bir sayı girin\.</p>'
    assert re.search(headcount, r.text)
    assert "Girdiklerinizin bir kısmı kabul edilmedi." in r.text  # the status, in words
    assert "should have at most" not in r.text  # the API's English sentence is not shown


async def test_a_rules_english_reason_is_marked_as_english(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    await client.post("/language", data={"csrf": csrf, "lang": "es", "next": "/"})
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "nace_primary": "C28.41"})
    assert r.status_code == 422
    english = r'id="nace_primary-error">.*<span lang="en">unknown NACE Rev\. 2 code &#39;C28\.41&#39;</span>'
    assert re.search(english, r.text)
