"""The web client inside the regional app (embedded): it shares ``/`` with the API without taking any of
the API's paths, keeps its session in a signed ``HttpOnly``/``SameSite=Lax`` cookie, refuses forms
without the session's CSRF token, and shows an API problem next to the field it names."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings, TrustedIssuer
from contracts import matching as mev
from gateway.app import GatewaySettings
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import Clock, eventually, publish_on
from web.app import brand_css
from web.session import COOKIE
from web.settings import WebSettings, contrast

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


def weekday_ahead(days: int) -> date:
    d = date.today() + timedelta(days=days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


async def sign_in(client: httpx.AsyncClient, persona: str = "demo-sme") -> str:
    home = await client.get("/")
    csrf = CSRF.search(home.text).group(1)  # type: ignore[union-attr]
    r = await client.post("/sign-in/persona", data={"csrf": csrf, "persona": persona, "next": "/facilities"})
    assert r.status_code == 303 and r.headers["location"] == "/facilities"
    return csrf


async def test_the_api_keeps_its_paths(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).json()["info"]["title"]
    assert (await client.get("/docs")).status_code == 200
    missing = await client.get("/api/v1/no-such-service")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/facilities/sites")).status_code == 401  # no token, as before
    home = await client.get("/")
    assert home.status_code == 200 and '<html lang="en">' in home.text


async def test_the_proxy_gateway_serves_the_web_client_too(settings: RuntimeSettings) -> None:
    """In the distributed mode the gateway in front of the services' processes serves the same pages (its
    ``/api/v1`` short path is untouched: no service runs here, and the API, not the web client, answers)."""
    gw = GatewaySettings(mode="proxy", urls={"facilities": "http://127.0.0.1:9"}, rate_limits=False)
    async for c in asgi_client(create_app(settings, gw)):
        home = await c.get("/")
        assert home.status_code == 200 and "Try a demo persona" in home.text
        assert (await c.get("/static/site.css")).headers["content-type"].startswith("text/css")
        down = await c.get("/api/v1/facilities/sites", headers={"Authorization": "Bearer x"})
        assert down.status_code >= 400 and down.headers["content-type"] == "application/problem+json"


async def test_the_session_cookie(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over http here
    client.cookies.clear()
    secure = await client.get("https://testserver/")
    assert "; Secure" in secure.headers["set-cookie"]
    assert "script-src" not in r.headers["content-security-policy"]  # no script at all: default-src 'none'
    assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_an_unknown_page_is_the_sites_own(client: httpx.AsyncClient) -> None:
    for r in (await client.get("/facilities/no-such-page"), await client.get("/sign-out")):  # path, method
        assert r.status_code == 404 and "<h1>Something went wrong</h1>" in r.text and "Page not found." in r.text


async def test_signed_out_pages_send_to_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/facilities/bookings")
    assert r.status_code == 303 and r.headers["location"] == "/?next=/facilities/bookings"


async def test_a_tampered_cookie_is_a_new_session(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    value = client.cookies[COOKIE]
    client.cookies.set(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    r = await client.get("/facilities")
    assert r.status_code == 303  # back to sign-in: the signature no longer holds


@pytest.mark.parametrize("csrf", [None, "", "not-the-token"])
async def test_forms_need_the_sessions_csrf_token(client: httpx.AsyncClient, csrf: str | None) -> None:
    good = await sign_in(client)
    day = weekday_ahead(3).isoformat()
    form = {"resource_id": "ork-rubicon-desk-2", "day": day, "start": "10:00", "end": "11:00"}
    posted = form | ({"csrf": csrf} if csrf is not None else {})
    r = await client.post("/facilities/sites/ork-rubicon/book", data=posted)
    assert r.status_code == 403
    assert (await client.get("/facilities/bookings")).text.count("ork-rubicon-desk-2") == 0  # nothing booked
    ok = await client.post("/facilities/sites/ork-rubicon/book", data=form | {"csrf": good})
    assert ok.status_code == 303


async def test_an_api_problem_is_shown_next_to_its_field(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    day = weekday_ahead(3).isoformat()
    form = {"csrf": csrf, "resource_id": "ork-rubicon-desk-2", "day": day, "start": "11:00", "end": "10:00"}
    r = await client.post("/facilities/sites/ork-rubicon/book", data=form)
    assert r.status_code == 422
    # the API's reason for `end`, under the end field, tied to it for assistive technology
    assert re.search(r'id="end"[^>]*aria-invalid="true" aria-describedby="end-error"', r.text)
    assert re.search(r'<p class="field-error" id="end-error"><strong>Error:</strong> must be after start</p>', r.text)
    assert 'id="start-error"' not in r.text


async def test_the_forms_own_checks_name_their_field(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    r = await client.post(
        "/facilities/sites/ork-rubicon/book",
        data={"csrf": csrf, "resource_id": "ork-rubicon-desk-2", "day": "", "start": "9", "end": "10:00"},
    )
    assert r.status_code == 422
    assert 'id="day-error"' in r.text and 'id="start-error"' in r.text and 'id="end-error"' not in r.text


async def test_a_conflict_names_the_booked_slot_in_the_persons_language(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    day = weekday_ahead(4)
    form = {"csrf": csrf, "resource_id": "ork-rubicon-desk-3", "day": day.isoformat(), "start": "10:00", "end": "11:00"}
    assert (await client.post("/facilities/sites/ork-rubicon/book", data=form)).status_code == 303
    r = await client.post("/language", data={"csrf": csrf, "lang": "fr", "next": "/facilities"})
    assert r.status_code == 303
    again = await client.post("/facilities/sites/ork-rubicon/book", data=form | {"start": "10:30"})
    assert again.status_code == 409 and '<html lang="fr">' in again.text
    assert "Déjà réservé :" in again.text and "the requested slot is already booked" in again.text
    await client.post("/language", data={"csrf": csrf, "lang": "tr", "next": "/"})
    site = await client.get("/facilities/sites/ork-rubicon")
    assert "ONAY GEREKİR" in site.text and "ONAY GEREKIR" not in site.text  # Turkish casing: i → İ


async def test_booking_then_cancelling(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    day = weekday_ahead(5).isoformat()
    form = {"csrf": csrf, "resource_id": "ork-rubicon-room-1", "day": day, "start": "14:00", "end": "15:30"}
    r = await client.post("/facilities/sites/ork-rubicon/book", data=form)
    booking = r.headers["location"].split("booked=")[1]
    mine = await client.get("/facilities/bookings")
    assert "Your booking is made." not in mine.text and f"/facilities/bookings/{booking}/cancel" in mine.text
    assert "2:00\u202fPM" in mine.text  # 14:00 in the site's zone (Europe/Dublin), written the English way
    api = await client.get(f"/api/v1/facilities/bookings/{booking}")
    assert api.status_code == 401  # the browser holds no API token: only the web client does
    done = await client.post(f"/facilities/bookings/{booking}/cancel", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/facilities/bookings?cancelled={booking}"
    after = await client.get(done.headers["location"])
    assert "Your booking is cancelled." in after.text and "Cancelled" in after.text
    ics = await client.get("/facilities/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar") and ics.text.startswith("BEGIN:VCALENDAR")


async def test_a_manager_approves_a_request(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    day = weekday_ahead(6).isoformat()
    form = {"csrf": csrf, "resource_id": "ork-rubicon-lab-1", "day": day, "start": "09:00", "end": "10:00"}
    booking = (await client.post("/facilities/sites/ork-rubicon/book", data=form)).headers["location"].split("=")[1]
    assert "Waiting for approval" in (await client.get("/facilities/bookings")).text
    client.cookies.clear()
    csrf = await sign_in(client, "demo-manager")
    waiting = await client.get("/facilities/manage")
    assert f"/facilities/manage/{booking}/approve" in waiting.text
    r = await client.post(f"/facilities/manage/{booking}/approve", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/facilities/manage?decided=approve"
    assert f"/facilities/manage/{booking}/approve" not in (await client.get("/facilities/manage")).text


@pytest.fixture
async def with_bologna(settings: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The demo, with Bologna's API base configured (its partners' entry): its resources say where to book."""
    bologna = TrustedIssuer(
        issuer="https://id.bologna.example", region="ITH5", jwks_uri="https://id.bologna.example/jwks",
        api_base="https://bologna.example/api/v1",
    )  # fmt: skip
    app = create_app(settings.model_copy(update={"auth_partners": [bologna]}))
    async for c in asgi_client(app):
        yield app, c


async def test_facilities_search_lists_partner_regions_resources_and_says_when_one_is_stale(
    with_bologna: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    """The demo's partner regions' labs beside Cork's sites: each with its region, when it was last
    updated and where to book it (Bologna's client, whose API base is configured; the others' are not);
    with the partner silent past the threshold (900 s, fixed clock), “may be out of date”, not at it."""
    app, client = with_bologna
    sme = {"Authorization": token("s", "sme")}

    async def labs() -> list[dict[str, Any]]:
        r = await client.get("/api/v1/facilities/network/resources", params={"kind": "lab"}, headers=sme)
        return list(r.json())

    await eventually(lambda: _count(labs, 5), 30, "the partners' demo labs projected")
    heard = [datetime.fromisoformat(r["partner_last_event_at"]) for r in await labs()]
    clock = Clock(min(heard) + timedelta(seconds=900))  # at the threshold for the earliest heard: all fresh
    app.state.facilities.clock = clock
    await sign_in(client)
    page = (await client.get("/facilities", params={"kind": "lab"})).text
    assert "5 resources in partner regions" in page
    for region in ("ES61", "ES30", "ITH5", "FR10", "TR10"):
        assert f'<span class="badge">{region}</span>' in page
    assert '<a href="https://bologna.example/facilities/sites/blq-tecnopolo">Book it in ITH5\'s client</a>' in page
    assert page.count("own client: its address is not configured here.") == 4
    assert page.count("last updated ") == 5 and "May be out of date" not in page
    clock.now = max(heard) + timedelta(seconds=900, microseconds=1)  # just past it for the latest: all stale
    stale = (await client.get("/facilities", params={"kind": "lab"})).text
    assert stale.count("May be out of date: nothing heard from ") == 5
    assert 'class="warning">May be out of date: nothing heard from ITH5 since ' in stale
    only = (await client.get("/facilities", params={"kind": "lab", "q": "ith5"})).text
    assert "1 resource in partner regions" in only and "FR10" not in only


async def test_the_marketplace_lists_partner_regions_challenges_with_places_left_and_where_to_apply(
    with_bologna: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    """The demo's six partner challenges (seed table: ES61 3 places, ES30 2, ITH5 2 and 3, FR10 2, TR10 3)
    below Cork's own, each with its region, places left and where to apply (Bologna's client; the others'
    addresses are not configured); stale past the threshold (900 s, fixed clock), not at it."""
    app, client = with_bologna
    student = {"Authorization": token("s", "student")}

    async def partners() -> list[dict[str, Any]]:
        return list((await client.get("/api/v1/matching/network/challenges", headers=student)).json())

    await eventually(lambda: _count(partners, 6), 30, "the partners' demo challenges projected")
    heard = [datetime.fromisoformat(c["partner_last_event_at"]) for c in await partners()]
    clock = Clock(min(heard) + timedelta(seconds=900))  # at the threshold for the earliest heard: all fresh
    app.state.matching.clock = clock
    await sign_in(client, "demo-student")
    page = (await client.get("/matching")).text
    assert "6 challenges in partner regions" in page
    assert page.count("3 places left") == 3 and page.count("2 places left") == 3
    for region in ("ES61", "ES30", "ITH5", "FR10", "TR10"):
        assert f'<span class="badge">{region}</span>' in page
    for n in (3, 4):
        link = f"https://bologna.example/matching/challenges/demo-ith5-challenge-{n}"
        assert f'<a href="{link}">Apply in ITH5\'s client</a>' in page
    assert page.count("own client: its address is not configured here.") == 4
    assert page.count("last updated ") == 6 and "May be out of date" not in page
    clock.now = max(heard) + timedelta(seconds=900, microseconds=1)  # just past it for the latest: all stale
    stale = (await client.get("/matching")).text
    assert stale.count('class="warning">May be out of date: nothing heard from ') == 6
    other = (await client.get("/matching", params={"programme": "change_of_perspective"})).text
    assert "0 challenges in partner regions" in other  # the demo's partner challenges are all consultancy

    # Bologna's press-line challenge (2 places) fills as Bologna accepts matches, replicated here
    def accepted(n: int) -> CloudEvent:
        data = mev.MatchAccepted(
            match_id=f"m-{n}", round_id="r-1", challenge_id="demo-ith5-challenge-3", candidate=f"p-{n}",
            programme="consultancy", region="ITH5", candidate_region="IE05", accepted_at="2027-06-01T12:00:00+00:00",
        )  # fmt: skip
        return make_event(data, key=f"m-{n}", region="ITH5", source="/regions/ITH5/matching")

    async def places() -> int:
        rows = await partners()
        return int(next(c["places_left"] for c in rows if c["id"] == "demo-ith5-challenge-3"))

    async def left(n: int) -> bool:
        return await places() == n

    await publish_on(app, "matching", "ith5.matching.events", accepted(1))
    await eventually(lambda: left(1), 30, "one place taken")
    one = (await client.get("/matching")).text
    assert "1 place left" in one and one.count("2 places left") == 2 and "No place left" not in one
    await publish_on(app, "matching", "ith5.matching.events", accepted(2))
    await eventually(lambda: left(0), 30, "both places taken")
    full = (await client.get("/matching")).text
    assert "No place left" in full and "1 place left" not in full


async def _count(read: Callable[[], Awaitable[list[dict[str, Any]]]], n: int) -> bool:
    return len(await read()) == n


def test_branding_needs_readable_colours() -> None:
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54  # WCAG's well-known boundary grey
    assert WebSettings(colour_primary="#767676").colour_primary == "#767676"  # just readable
    with pytest.raises(ValidationError, match=r"contrast 4\.48"):
        WebSettings(colour_primary="#777777")  # just not
    with pytest.raises(ValidationError):
        WebSettings(colour_primary="blue")
    assert brand_css(WebSettings(colour_primary="#0B4F8A", colour_accent="#F2B705")) == (
        ":root { --brand: #0b4f8a; --accent: #f2b705; }\n"
    )


SME_FORM = {
    "legal_name": "Cork Precision Tooling",
    "nuts3": "IE053",
    "nace_primary": "C28.29",
    "headcount": "42",
    "turnover_eur": "5000000",
    "balance_sheet_eur": "3000000",
    "founded": "2004",
    "contact.name": "Aoife Murphy",
    "contact.email": "aoife@corkprecision.example",
    "consent": "yes",
}


async def test_registering_an_sme_names_each_bad_field(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "headcount": "4.5", "consent": ""})
    assert r.status_code == 422  # the form's own checks: a whole number, the consent
    assert "Enter a whole number." in r.text and 'id="consent-error"' in r.text and 'id="founded-error"' not in r.text
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "contact.email": "aoife@"})
    assert r.status_code == 422  # a nested field, shown at its input in words
    assert "Enter an email address such as name@example.org." in r.text
    assert re.search(r'id="contact-email"[^>]*aria-invalid="true" aria-describedby="contact-email-error"', r.text)
    assert 'value="Cork Precision Tooling"' in r.text  # what was typed is kept
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "nace_primary": "C28.41"})
    assert r.status_code == 422  # the API's own reason, at the field it names
    assert "unknown NACE Rev. 2 code &#39;C28.41&#39;</p>" in r.text and 'id="nace_primary-error"' in r.text


async def test_an_assessment_and_its_results(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM})
    sme = r.headers["location"].split("?")[0]
    form = (await client.get(f"{sme}/take")).text
    version = re.search(r'name="instrument_version" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    questions = re.findall(r'name="(answers\.[a-z_]+-[0-9])" value="1"', form)
    assert len(questions) == 24
    answers = {q: "4" for q in questions} | {"answers.innovation-1": "1", "answers.innovation-2": "2"}
    answers["answers.innovation-3"] = "3"
    missing = {k: v for k, v in answers.items() if k != "answers.talent-2"}
    r = await client.post(f"{sme}/take", data={"csrf": csrf, "instrument_version": version, **missing})
    assert r.status_code == 422
    assert re.search(r'id="answers-talent-2-error"><strong>Error:</strong> missing answer', r.text)
    assert r.text.count('class="field-error"') == 1 and 'value="3" checked' in r.text  # the answers are kept
    r = await client.post(f"{sme}/take", data={"csrf": csrf, "instrument_version": version, **answers})
    assert r.status_code == 303
    page = (await client.get(r.headers["location"])).text
    # innovation: answers 1, 2, 3 with weights 2, 1, 1 -> (2 + 2 + 3) / 4 = 1.75, shown to one place
    assert re.search(r"Innovation and technology adoption</th><td>1.8</td>", page)
    assert re.search(r"<ol><li>Innovation and technology adoption</li><li>Digitalisation</li>", page)
    await client.post("/language", data={"csrf": csrf, "lang": "it", "next": "/"})
    italian = (await client.get(r.headers["location"])).text
    assert "Innovazione e adozione di tecnologie</th><td>1,8</td>" in italian  # the decimal comma, named in Italian
    chart = await client.get(f"{sme}/chart.svg")
    assert chart.headers["content-type"].startswith("image/svg+xml") and "Talenti e competenze" in chart.text
    assert not re.search(r"<script[^>]*\ssrc=", chart.text)  # nothing fetched from elsewhere
    assert chart.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"  # no script runs


async def test_the_cluster_explorer_shows_the_apis_stars_and_flags_small_cells(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    analyst = {"Authorization": token("a", "analyst")}

    async def cells() -> dict[tuple[str, str], tuple[int, int]]:
        api = await client.get("/api/v1/mapping/cluster-map", headers=analyst)
        return {(c["region"], c["sector"]): (c["strength"]["stars"], c["smes"]) for c in api.json()}

    await sign_in(client, "demo-analyst")
    # The demo's events may still be folding into the map (partners' replicated data too): compare the
    # page with an API answer that did not change while the page was read.
    for _ in range(100):
        expected = await cells()
        page = (await client.get("/explorer")).text
        if await cells() == expected:
            break
        await asyncio.sleep(0.1)
    assert {n for _, n in expected.values()} >= {3, 5}  # the demo has cells below and at the threshold
    shown = re.findall(r"<summary>(\w{4}) × (\w+): (\d) stars? of 3( \(few SMEs\))?</summary>", page)
    samples = [int(n) for n in re.findall(r"<dd>(\d+) SMEs registered", page)]
    assert len(shown) == len(expected) == len(samples)
    for (region, sector, stars, few), n in zip(shown, samples, strict=True):
        assert (int(stars), n) == expected[(region, sector)]  # what the API says, cell by cell
        assert bool(few) == (n < 5)  # flagged below 5 SMEs, not at 5
    assert "Cells marked “few SMEs” have fewer than 5 registered SMEs" in page
    csv = await client.get("/explorer/cells.csv?region=IE05")
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[0].startswith("region,")
    assert all(line.startswith("IE05,") for line in csv.text.splitlines()[1:])
    chart = await client.get("/explorer/chart.svg?region=IE05&need=finance")
    assert chart.headers["content-type"].startswith("image/svg+xml") and "IE05 × C2" in chart.text


async def test_the_explorers_tile_map_and_spotlight_give_the_apis_figures(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """The map's table, region by region, gives the spotlight API's mean maturity in the chosen need (the
    service's own aggregate, not the page's weighted cells); coloured by stars, each region's best cell
    from the cluster map; the spotlight of a chosen region names both series and the 1-5 scale."""
    analyst = {"Authorization": token("a", "analyst")}

    async def figures() -> tuple[dict[str, float | None], dict[str, int]]:
        cells = (await client.get("/api/v1/mapping/cluster-map", headers=analyst)).json()
        means: dict[str, float | None] = {}
        for region in sorted({c["region"] for c in cells}):
            spot = await client.get("/api/v1/mapping/spotlight", params={"region": region}, headers=analyst)
            if spot.json()["suppressed"] is None:  # a partner region with fewer than 10 assessed SMEs: no means
                means[region] = {n["dimension"]: n["mean_maturity"] for n in spot.json()["needs"]}.get("finance")
        best: dict[str, int] = {}
        for c in cells:
            best[c["region"]] = max(best.get(c["region"], 0), c["strength"]["stars"])
        return means, best

    await sign_in(client, "demo-analyst")
    for _ in range(100):  # the demo's events may still be folding: a page read while the API held still
        expected = await figures()
        page = (await client.get("/explorer", params={"need": "finance", "region": "IE05"})).text
        stars = (await client.get("/explorer", params={"by": "stars"})).text
        if await figures() == expected:
            break
        await asyncio.sleep(0.1)
    means, best = expected
    assert "IE05" in means and len(best) >= 6  # the demo's six council regions at least; this one's means shown
    for region, mean in means.items():
        shown = "—" if mean is None else f"{mean:.1f}"
        assert re.search(rf'<tr><th scope="row">{region}</th><td>{shown}</td><td>\d+</td></tr>', page), region
        assert f'<tr><th scope="row">{region}</th><td>{best[region]}</td></tr>' in stars
    assert "A tile map, not to scale: one tile per region" in page
    assert '<img src="/explorer/map.svg?need=finance&amp;region=IE05"' in page
    assert "Spotlight on IE05: its growth needs beside the network's" in page
    tiles = await client.get("/explorer/map.svg", params={"need": "finance"})
    assert tiles.headers["content-type"].startswith("image/svg+xml")
    assert all(f">{r}<" in tiles.text for r in best) and ">mean 4 to 5<" in tiles.text
    by_stars = (await client.get("/explorer/map.svg", params={"by": "stars"})).text
    assert ">best cell: 3 stars<" in by_stars and all(f">{r}<" in by_stars for r in best)
    spot = (await client.get("/explorer/spotlight.svg", params={"region": "IE05"})).text
    assert ">IE05<" in spot and ">Network<" in spot and ">1.0<" in spot and ">5.0<" in spot
    assert (await client.get("/explorer/spotlight.svg")).status_code == 422  # a spotlight needs its region


async def test_joining_a_council_and_registering_for_its_meeting(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    council = "/councils/council-cork"
    page = (await client.get(council)).text
    scheduled = re.findall(r"/meetings/([\w-]+)/register", page)
    assert scheduled, "the demo council has a scheduled meeting"
    meeting = scheduled[0]
    refused = await client.post(f"{council}/meetings/{meeting}/register", data={"csrf": csrf})
    assert refused.status_code in (403, 404) and 'role="alert"' in refused.text  # not a member yet: said why
    bad = await client.post(f"{council}/apply", data={"csrf": csrf, "constituency": "", "display_name": "Aoife"})
    assert bad.status_code == 422 and 'id="constituency-error"' in bad.text
    form = {"csrf": csrf, "constituency": "sme", "display_name": "Aoife Murphy", "email": "aoife@cork.example"}
    applied = await client.post(f"{council}/apply", data=form)
    assert applied.status_code == 303 and applied.headers["location"] == f"{council}?done=applied"
    assert "waiting for a decision" in (await client.get(council)).text
    sme_cookies = dict(client.cookies)
    client.cookies.clear()
    secretary = await sign_in(client, "demo-secretary")
    pending = (await client.get(council)).text
    [request] = re.findall(r"/requests/([\w-]+)/approve", pending)
    assert (await client.post(f"{council}/requests/{request}/approve", data={"csrf": secretary})).status_code == 303
    client.cookies.clear()
    client.cookies.update(sme_cookies)
    before = re.search(rf"/meetings/{meeting}/register", (await client.get(council)).text)
    assert before is not None and "approved: you are a member" in (await client.get(council)).text
    seats = re.findall(r"<td>(\d+) of (\d+) taken</td>", (await client.get(council)).text)
    registered = await client.post(f"{council}/meetings/{meeting}/register", data={"csrf": csrf})
    assert registered.status_code == 303 and registered.headers["location"] == f"{council}?done=registered"
    after = re.findall(r"<td>(\d+) of (\d+) taken</td>", (await client.get(council)).text)
    changed = [(b, a) for b, a in zip(seats, after, strict=True) if b != a]
    assert len(changed) == 1 and int(changed[0][1][0]) == int(changed[0][0][0]) + 1  # one more seat taken
    ics = await client.get(f"{council}/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar") and "BEGIN:VEVENT" in ics.text


async def test_enrolling_in_a_module_and_checking_a_credential(client: httpx.AsyncClient, token: TokenFactory) -> None:
    day = weekday_ahead(10).isoformat()
    module = {
        "title": "Lean basics",
        "practices": ["lean"],
        "language": "en",
        "format": "online",
        "duration_hours": 3,
        "capacity": 1,  # one place: the second person waits
        "sessions": [{"title": "One", "start": f"{day}T09:00:00+00:00", "end": f"{day}T12:00:00+00:00"}],
    }
    made = await client.post(
        "/api/v1/training/modules", json=module, headers={"Authorization": token("co", "region_admin")}
    )
    assert made.status_code == 201, made.text
    enrol = f"/training/modules/{made.json()['id']}/enrol"
    csrf = await sign_in(client, "demo-sme")
    assert "1 place free" in (await client.get("/training")).text
    first = await client.post(enrol, data={"csrf": csrf})
    assert first.headers["location"] == "/training?done=confirmed"
    sme = (await client.get("/training")).text
    assert "0 places free" in sme and enrol not in sme  # no second enrolment offered
    [enrolment] = re.findall(r"/training/enrolments/([\w-]+)/cancel", sme)
    sme_cookies = dict(client.cookies)
    client.cookies.clear()
    student = await sign_in(client, "demo-student")
    second = await client.post(enrol, data={"csrf": student})
    assert second.headers["location"] == "/training?done=waitlisted"
    assert "On the waiting list (1)" in (await client.get("/training")).text
    student_cookies = dict(client.cookies)
    client.cookies.clear()
    client.cookies.update(sme_cookies)
    cancelled = await client.post(f"/training/enrolments/{enrolment}/cancel", data={"csrf": csrf})
    assert cancelled.headers["location"] == "/training?done=cancelled"
    client.cookies.clear()
    client.cookies.update(student_cookies)
    assert re.search(r"<th scope=\"row\">Lean basics</th>\s*<td>Confirmed</td>", (await client.get("/training")).text)
    empty = await client.post("/training/verify", data={"csrf": student, "credential": ""})
    assert empty.status_code == 422 and 'id="credential-error"' in empty.text
    forged = await client.post("/training/verify", data={"csrf": student, "credential": "abc.def.ghi"})
    assert "The credential is not valid." in forged.text and "<li>Signature: failed</li>" in forged.text


async def practice_answers(client: httpx.AsyncClient, sme: str) -> tuple[str, list[str]]:
    form = (await client.get(f"/training/practices/{sme}/take")).text
    version = re.search(r'name="instrument_version" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return version, re.findall(r'name="answers\.([a-z_]+)" value="1"', form)


async def registered_and_assessed(client: httpx.AsyncClient, csrf: str, **changes: str) -> str:
    """An SME of the persona's organisation with its growth-needs assessment (which makes it known to
    training, through mapping's event): its id."""
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, **changes})
    assert r.status_code == 303, r.text
    sme = r.headers["location"].split("?")[0]
    form = (await client.get(f"{sme}/take")).text
    version = re.search(r'name="instrument_version" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    questions = re.findall(r'name="(answers\.[a-z_]+-[0-9])" value="1"', form)
    r = await client.post(
        f"{sme}/take", data={"csrf": csrf, "instrument_version": version, **dict.fromkeys(questions, "3")}
    )
    assert r.status_code == 303
    return sme.rsplit("/", 1)[1]


async def self_assess(
    client: httpx.AsyncClient, csrf: str, sme: str, answers: dict[str, str], previous: str = ""
) -> httpx.Response:
    """The practice self-assessment posted as the form does, waiting (briefly) for training to know the SME."""
    version, _ = await practice_answers(client, sme)
    data = {"csrf": csrf, "instrument_version": version, **{f"answers.{k}": v for k, v in answers.items()}}
    if previous:
        data["previous"] = previous
    for _ in range(100):
        r = await client.post(f"/training/practices/{sme}/take", data=data)
        if r.status_code != 422 or "sme_id" not in r.text:
            return r
        await asyncio.sleep(0.05)  # mapping's SMEAssessed not consumed yet
    return r


async def seeded_peers_released(client: httpx.AsyncClient, token: TokenFactory) -> None:
    """Wait for the demo's C28 x IE05 x small cell (24 firms of 24 organisations) to have cut its release
    of 20 (at 10 and at 20 organisations): the projection folds the seed from the log, in its own time."""
    q = {"instrument": "wms", "level": "division_region_size", "nace_division": "C28", "region": "IE05"}

    async def released() -> bool:
        r = await client.get(
            "/api/v1/training/benchmarks",
            params=q | {"size_class": "small"},
            headers={"Authorization": token("a", "analyst")},
        )
        return r.status_code == 200 and (r.json().get("release") or {}).get("n") == 20

    await eventually(released, timeout_s=120, what="the seeded cell's release of 20")


async def test_the_practice_self_assessment_benchmark_and_plan(client: httpx.AsyncClient, token: TokenFactory) -> None:
    await seeded_peers_released(client, token)
    csrf = await sign_in(client)
    sme = await registered_and_assessed(client, csrf)
    assert f"/training/practices/{sme}/take" in (await client.get("/training/practices")).text
    _, practices = await practice_answers(client, sme)
    assert len(practices) == 18 and practices[:3] == [
        "lean_introduction",
        "lean_rationale",
        "process_problem_documentation",
    ]
    # the three operations practices 1, 2, 3, the other fifteen 4: operations 2.00, overall 66 / 18 = 3.67
    answers = dict.fromkeys(practices, "4") | {
        "lean_introduction": "1",
        "lean_rationale": "2",
        "process_problem_documentation": "3",
    }
    missing = {k: v for k, v in answers.items() if k != "time_horizon"}
    r = await self_assess(client, csrf, sme, missing)
    assert r.status_code == 422
    assert re.search(r'id="answers-time_horizon-error"><strong>Error:</strong> missing answer', r.text)
    assert r.text.count('class="field-error"') == 1 and 'value="2" checked' in r.text  # the answers are kept
    r = await self_assess(client, csrf, sme, answers)
    assert r.status_code == 303, r.text
    result = r.headers["location"]
    baseline = result.split("?")[0].rsplit("/", 1)[1]
    page = (await client.get(result)).text
    assert "The self-assessment is saved." in page and "Overall score: 3.67 of 5." in page
    assert '<th scope="row" lang="en"><strong>Operations</strong></th><td><strong>2.00</strong></td>' in page
    # the demo's peers of C28 x IE05 x small: the release of 20 firms of 20 organisations (this SME's
    # organisation is none of them): a mean, its interval and quartiles (from 20), and where 3.67 falls
    assert "SMEs of the same NACE division, region and size (20 firms of 20 organisations" in page
    overall = re.search(r'<tr><th scope="row">Overall</th><td>3.7</td>(.*?)</tr>', page).group(1)  # type: ignore[union-attr]
    cells = re.findall(r"<td>(.*?)</td>", overall)
    quartiles = [float(q) for q in cells[2].split(" · ")]
    assert len(quartiles) == 3 and quartiles == sorted(quartiles) and cells[4] == ""  # nothing withheld
    words = [
        "below the lower quartile",
        "between the lower quartile and the median",
        "between the median and the upper quartile",
        "in the upper quartile",
    ]
    assert cells[3] == words[sum(3.67 >= q for q in quartiles)]
    chart = await client.get(f"/training/practices/assessments/{baseline}/chart.svg")
    assert chart.headers["content-type"].startswith("image/svg+xml") and "Performance tracking" in chart.text

    made = await client.post(f"/training/practices/assessments/{baseline}/plan", data={"csrf": csrf})
    assert made.status_code == 303 and made.headers["location"].endswith("?done=created")
    plan_url = made.headers["location"].split("?")[0]
    plan = (await client.get(plan_url)).text
    # the weakest practice first, its target one step up the scale
    assert re.search(r'lang="en">Introduction of modern \(lean\) techniques</th><td>1.0</td><td>2.0</td>', plan)
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', plan).group(1))  # type: ignore[union-attr]
    edit = {"csrf": csrf, "etag": etag, "focus_areas.0.practice": "lean_introduction", "focus_areas.0.target": "abc"}
    r = await client.post(plan_url, data=edit)
    assert r.status_code == 422 and 'id="focus_areas-0-target-error"><strong>Error:</strong> Enter a number.' in r.text
    r = await client.post(plan_url, data=edit | {"focus_areas.0.target": "5.5"})  # the API's bound, at the field
    assert r.status_code == 422 and "focus_areas-0-target-error" in r.text and "Enter a number of at most 5." in r.text
    r = await client.post(plan_url, data=edit | {"focus_areas.0.target": "3"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=saved")
    r = await client.post(plan_url, data=edit | {"focus_areas.0.target": "4"})  # the ETag is stale now
    assert r.status_code == 412 and 'class="problem"' in r.text
    plan = (await client.get(plan_url)).text
    assert (
        re.search(r"techniques</th><td>1.0</td><td>3.0</td>", plan)
        and plan.count('<tr><th scope="row" lang="en">') == 1
    )

    # the re-assessment: lean introduction from 1 to 3 meets the edited target (3); the rest unchanged
    again = await self_assess(client, csrf, sme, answers | {"lean_introduction": "3"}, previous=baseline)
    assert again.status_code == 303
    page = (await client.get(again.headers["location"])).text
    assert "Targets met: 1 of 1." in page
    assert re.search(r"techniques</th><td>1.0</td><td>3.0</td><td>\+2.0</td><td>3.0: met</td>", page)
    old = (await client.get(result)).text  # the baseline is no longer the one compared with peers
    assert "Only the SME's latest self-assessment is compared with its peers." in old


async def test_a_peer_group_too_small_to_show_says_why(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    # the demo has 3 medium-sized firms in C33 in this region: the narrower groups are passed over
    sme = await registered_and_assessed(client, csrf, nace_primary="C33.1", headcount="80")
    _, practices = await practice_answers(client, sme)
    r = await self_assess(client, csrf, sme, dict.fromkeys(practices, "3"))
    assert r.status_code == 303, r.text
    page = (await client.get(r.headers["location"])).text
    # 3 firms never reach the 10 organisations a release needs: each narrower group says so (whether the
    # network has its release yet depends on how far the seed is folded)
    said = "<span>no figures released yet (contributions of 10 organisations make one)</span>"
    assert f"<li>SMEs of the same NACE division, region and size: {said}</li>" in page
    assert f"<li>SMEs of the same NACE section, country and size: {said}</li>" in page
    await client.post("/language", data={"csrf": csrf, "lang": "es", "next": "/"})
    spanish = (await client.get(r.headers["location"])).text
    assert (
        "<span>aún no se han publicado cifras (las aportaciones de 10 organizaciones dan lugar a una)</span>" in spanish
    )


async def test_the_challenge_marketplace_and_a_challenge(client: httpx.AsyncClient, token: TokenFactory) -> None:
    body = {
        "programme": "change_of_perspective",  # a visiting academic: no supervisor needed
        "title": "Energy audit of a machining line",
        "scope": "Measure and model the energy use of the CNC line and propose savings.",
        "skills": ["energy efficiency", "data analysis"],
        "languages": ["en", "ga"],
        "region": "IE05",
        "work_mode": "hybrid",
        "term": "2027-spring",
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-15",
        "capacity": 2,
        "ip_template": "nda-portfolio-safe",
    }
    made = await client.post(
        "/api/v1/matching/challenges", json=body, headers={"Authorization": token("co", "region_admin")}
    )
    assert made.status_code == 201, made.text
    csrf = await sign_in(client, "demo-student")
    listed = (await client.get("/matching")).text
    assert "1 challenge</p>" in listed and f'<a href="/matching/challenges/{made.json()["id"]}">' in listed
    assert "Change of perspective (visiting academic) · Open · Hybrid · IE05 · Feb 1, 2027 – May 15, 2027" in listed
    none = (await client.get("/matching?programme=consultancy")).text  # the API's filter, chosen on the page
    assert "No challenge is open at the moment." in none and 'value="consultancy" selected' in none
    page = (await client.get(f"/matching/challenges/{made.json()['id']}")).text
    assert "<dd>data analysis, energy efficiency</dd>" in page and '<span lang="ga">GA</span>' in page
    assert "<dd>2 people</dd>" in page and "Monday, February 1, 2027 – Saturday, May 15, 2027 (2027-spring)" in page
    assert "students may still describe their role, methods and skills in a portfolio" in page
    await client.post("/language", data={"csrf": csrf, "lang": "fr", "next": "/"})
    french = (await client.get(f"/matching/challenges/{made.json()['id']}")).text
    assert "<dd>2 personnes</dd>" in french and "lundi 1 février 2027" in french
    assert (await client.get("/matching/challenges/ch-none")).status_code == 404


CHALLENGE = {
    "programme": "consultancy",
    "scope": "Model the line's energy use and propose savings, with the data the SME keeps.",
    "languages": ["en"],
    "region": "IE05",
    "work_mode": "hybrid",
    "term": "2027-spring",
    "starts_on": "2027-02-01",
    "ends_on": "2027-05-15",
    "capacity": 1,
    "ip_template": "open-results",
}
PROFILE = {
    "skills": "data analysis, CAD",
    "languages": "en, it",
    "programme_of_study": "MEng Mechanical",
    "available_from": "2027-01-01",
    "available_until": "2027-06-30",
}


async def test_a_students_profile_ranking_round_and_proposal(client: httpx.AsyncClient, token: TokenFactory) -> None:
    supervisor = token("sup", "academic", org="Munster Technological University")
    made = await client.put(
        "/api/v1/matching/candidates/me",
        json={"kind": "academic", "languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-12-31"},
        headers={"Authorization": supervisor},
    )
    assert made.status_code == 200, made.text
    coordinator = {"Authorization": token("co", "region_admin")}
    ids = {}
    for title, skills in (("Energy audit", ["data analysis", "energy"]), ("Fixture design", ["CAD", "metrology"])):
        body = CHALLENGE | {"title": title, "skills": skills, "supervisor": made.json()["id"]}
        r = await client.post("/api/v1/matching/challenges", json=body, headers=coordinator)
        assert r.status_code == 201, r.text
        ids[title] = r.json()["id"]
    audit, fixture = ids["Energy audit"], ids["Fixture design"]

    csrf = await sign_in(client, "demo-student")
    assert "You have no profile yet" in (await client.get("/matching/ranking")).text
    r = await client.post("/matching/profile", data={"csrf": csrf, **PROFILE, "languages": "english"})
    assert r.status_code == 422 and 'id="languages-error"' in r.text  # the form's own check
    assert 'value="MEng Mechanical"' in r.text  # what was typed is kept
    r = await client.post("/matching/profile", data={"csrf": csrf, **PROFILE, "available_until": "2026-12-31"})
    assert r.status_code == 422  # the API's reason, at the field it names
    assert re.search(r'id="available_until"[^>]*aria-invalid="true" aria-describedby="available_until-error"', r.text)
    assert re.search(r'id="available_until-error"><strong>Error:</strong> [^<]*is before available_from</p>', r.text)
    r = await client.post("/matching/profile", data={"csrf": csrf, **PROFILE})
    assert r.status_code == 303 and r.headers["location"] == "/matching/profile?done=saved"
    saved = (await client.get(r.headers["location"])).text
    assert "Your profile is saved." in saved and 'value="en, it"' in saved
    assert 'value="cad, data analysis"' in saved  # as the API keeps skills: lower case, sorted

    form = (await client.get("/matching/ranking")).text
    assert f'name="rank.{audit}" value=""' in form and f'name="rank.{fixture}" value=""' in form
    both = {"csrf": csrf, f"rank.{audit}": "1", f"rank.{fixture}": "1"}
    r = await client.post("/matching/ranking", data=both)
    assert r.status_code == 422 and r.text.count('class="field-error"') == 1  # the second 1 is refused
    assert "Another challenge has rank 1 too" in r.text
    r = await client.post("/matching/ranking", data=both | {f"rank.{fixture}": "3"})  # 2 challenges: 1 or 2
    assert r.status_code == 422 and "Enter a whole number from 1 to 2, or leave it empty." in r.text
    r = await client.post("/matching/ranking", data=both | {f"rank.{audit}": "2"})  # fixture first, audit second
    assert r.status_code == 303
    ranked = (await client.get("/matching/ranking")).text
    assert ranked.index(f'name="rank.{fixture}" value="1"') < ranked.index(f'name="rank.{audit}" value="2"')
    mine = (await client.get("/matching/applications")).text
    assert re.search(r"<td>1</td>\s*<th scope=\"row\"><a [^>]*>Fixture design</a></th>\s*<td>Waiting", mine)
    student_cookies = dict(client.cookies)

    client.cookies.clear()
    admin = await sign_in(client, "demo-admin")
    r = await client.post(
        "/matching/rounds", data={"csrf": admin, "programme": "consultancy", "term": "spring 2027", "mode": "stable"}
    )
    assert r.status_code == 422 and 'id="term-error"' in r.text
    run = {"csrf": admin, "programme": "consultancy", "term": "2027-spring", "mode": "stable"}
    r = await client.post("/matching/rounds", data=run)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=run")
    report = (await client.get(r.headers["location"])).text
    assert "<dt>Matched</dt><dd>1 of 1</dd>" in report and "<dt>Blocking pairs</dt><dd>0 " in report
    assert '<tr><th scope="row">1</th><td>1</td></tr>' in report  # one candidate got their first choice
    # fit = 0.5 x skills (CAD of CAD, metrology: 1/2) + 0.3 x dates (all inside) + 0.2 x home region = 0.75
    assert "Got Fixture design, choice no. 1. Fit score 0.75 of 1." in report
    assert "List used: <span>the candidate&#39;s own ranking</span>" in report
    round_url = r.headers["location"].split("?")[0]

    client.cookies.clear()
    client.cookies.update(student_cookies)
    own = (await client.get(round_url)).text
    assert "Your explanation" in own and "Got Fixture design, choice no. 1." in own and "Fairness report" not in own
    assert "List used: <span>your ranking</span>" in own
    proposals = (await client.get("/matching/matches")).text
    [match] = re.findall(r"/matching/matches/([\w-]+)/accept", proposals)
    assert "Proposed: waiting for both sides" in proposals
    r = await client.post(f"/matching/matches/{match}/accept", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/matching/matches?done=accept"
    after = (await client.get(r.headers["location"])).text
    assert "<dt>Candidate's answer</dt><dd>accepted</dd>" in after and f"/{match}/accept" not in after
    host = await client.post(f"/api/v1/matching/matches/{match}/accept", headers={"Authorization": supervisor})
    assert host.status_code == 200, host.text
    assert "Active engagement" in (await client.get("/matching/applications")).text
    await client.post("/language", data={"csrf": csrf, "lang": "es", "next": "/"})
    spanish = (await client.get(round_url)).text
    assert '<html lang="es">' in spanish and "Su explicación" in spanish


async def test_an_sme_declines_an_academics_change_of_perspective(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sme = {"Authorization": token("demo-sme", "sme_member", org="Cork Precision Tooling")}
    body = CHALLENGE | {"programme": "change_of_perspective", "title": "Visiting researcher: tool wear", "skills": []}
    r = await client.post("/api/v1/matching/challenges", json=body, headers=sme)
    assert r.status_code == 201, r.text
    challenge = r.json()["id"]
    academic = await sign_in(client, "demo-academic")
    profile = {k: v for k, v in PROFILE.items() if k != "programme_of_study"} | {"supervision_capacity": "0"}
    r = await client.post("/matching/profile", data={"csrf": academic, **profile})
    assert r.status_code == 422 and 'id="supervision_capacity-error"' in r.text  # 1 to 50
    r = await client.post("/matching/profile", data={"csrf": academic, **profile, "supervision_capacity": "1"})
    assert r.status_code == 303
    r = await client.post("/matching/ranking", data={"csrf": academic, f"rank.{challenge}": "1"})
    assert r.status_code == 303
    academic_cookies = dict(client.cookies)
    client.cookies.clear()
    admin = await sign_in(client, "demo-admin")
    run = {"csrf": admin, "programme": "change_of_perspective", "term": "2027-spring", "mode": "optimal"}
    assert (await client.post("/matching/rounds", data=run)).status_code == 303
    client.cookies.clear()
    host = await sign_in(client, "demo-sme")
    page = (await client.get("/matching/matches")).text
    [match] = re.findall(r"/matching/matches/([\w-]+)/decline", page)
    assert "<dt>You are</dt><dd>the host</dd>" in page
    r = await client.post(f"/matching/matches/{match}/decline", data={"csrf": host, "reason": "No lab space in May"})
    assert r.status_code == 303 and r.headers["location"] == "/matching/matches?done=decline"
    again = await client.post(f"/matching/matches/{match}/accept", data={"csrf": host})
    assert again.status_code == 409 and 'class="problem"' in again.text  # answered once: the API says why
    client.cookies.clear()
    client.cookies.update(academic_cookies)
    seen = (await client.get("/matching/matches?status=declined")).text
    assert "Visiting researcher: tool wear" in seen and "<dt>Host's answer</dt><dd>declined</dd>" in seen
    assert f"/{match}/accept" not in seen


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


async def test_a_councils_dashboard_meeting_and_a_proposed_initiative(client: httpx.AsyncClient) -> None:
    council = "/councils/council-cork"
    held = f"{council}/meetings/mtg-cork-1"  # the demo's meeting held 60 days ago (services/councils/seed.py)
    csrf = await sign_in(client)  # the SME: not a member
    assert "A council's dashboard is for its members" in (await client.get(f"{council}/dashboard")).text
    outside = (await client.get(held)).text
    assert "<dt>Attendees</dt><dd>5</dd>" in outside  # public: that it was held, and by how many
    assert "The minutes are for the council's members and managers." in outside
    assert "The decisions are for the council's members and managers." in outside
    assert "needs reviewed" not in outside
    client.cookies.clear()
    csrf = await sign_in(client, "demo-secretary")

    page = (await client.get(held)).text
    # the seed: five members checked in, four endorse votes, the minutes and one action item done
    assert "<p>Minutes: needs reviewed; test bench endorsed.</p>" in page
    assert "<p>Tally: endorse 4, object 0, abstain 0</p>" in page
    assert "Endorsed: launch the shared test bench (endorse)" in page
    assert '<th scope="row">Draft the test bench&#39;s access rules</th><td>' in page and "<td>done</td>" in page
    assert "met: 5 voting members present" in page

    dashboard = (await client.get(f"{council}/dashboard")).text
    q = quarter_of(date.today() - timedelta(days=60))  # the held meeting's quarter: 1 held, quorate, 5 there
    assert re.search(rf'<th scope="row">{q}</th><td>1</td><td>1</td><td>5</td><td>1</td>', dashboard)
    assert dashboard.count("<figure>") == 4 and '<h3 id="ind-national_impact">' in dashboard
    await client.post("/language", data={"csrf": csrf, "lang": "es", "next": "/"})
    chart = await client.get(f"{council}/dashboard/sme_university.svg")
    assert (
        chart.headers["content-type"].startswith("image/svg+xml") and "Interacciones pyme ↔ universidad" in chart.text
    )
    assert "Reuniones con asistencia de pymes y universidades" in chart.text and q in chart.text  # legend, axis
    assert not re.search(r"<script[^>]*\ssrc=", chart.text)
    assert (await client.get(f"{council}/dashboard/no-such.svg")).status_code == 404
    await client.post("/language", data={"csrf": csrf, "lang": "en", "next": "/"})

    form = {"csrf": csrf, "title": "", "summary": "Shared metrology lab days for SMEs of both clusters."}
    r = await client.post(f"{council}/initiatives/new", data=form)
    assert r.status_code == 422 and 'id="title-error"' in r.text and 'id="summary-error"' not in r.text
    r = await client.post(f"{council}/initiatives/new", data=form | {"title": "x" * 201})  # the API's bound
    assert r.status_code == 422
    assert re.search(r'id="title"[^>]*aria-invalid="true" aria-describedby="title-error"', r.text)
    assert re.search(r'id="title-error"><strong>Error:</strong> [^<]*at most 200 characters', r.text)
    chosen = form | {"title": "Metrology days", "co_sponsor.ITH5|council-bologna": "yes", "need.rnd_facilities": "yes"}
    r = await client.post(f"{council}/initiatives/new", data=chosen)
    assert r.status_code == 303 and r.headers["location"].startswith(f"{council}?done=proposed#initiative-")
    page = (await client.get(r.headers["location"])).text
    assert "Your initiative is proposed." in page
    item = re.search(r'<li id="initiative-[\w-]+"><h3>Metrology days</h3>(.*?)</li>', page)
    assert item is not None and "cross-border" in item.group(1) and "IE05, ITH5" in item.group(1)  # Ireland, Italy


async def test_the_waiting_list_an_offer_claimed_and_an_early_check_in(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    site = "/facilities/sites/ork-rubicon"
    day = weekday_ahead(7).isoformat()
    slot = {"resource_id": "ork-rubicon-desk-3", "day": day, "start": "10:00", "end": "11:00"}
    csrf = await sign_in(client)
    booked = await client.post(f"{site}/book", data={"csrf": csrf, **slot})
    assert booked.status_code == 303
    booking = booked.headers["location"].split("booked=")[1]
    sme_cookies = dict(client.cookies)
    client.cookies.clear()
    student = await sign_in(client, "demo-student")
    free = await client.post(f"{site}/waitlist", data={"csrf": student, **slot, "start": "14:00", "end": "15:00"})
    assert free.status_code == 409 and 'class="problem"' in free.text  # the slot is free: the API says so
    taken = await client.post(f"{site}/book", data={"csrf": student, **slot})
    assert taken.status_code == 409 and "Join the waiting list for this time" in taken.text
    joined = await client.post(f"{site}/waitlist", data={"csrf": student, **slot})
    assert joined.status_code == 303 and "/facilities/bookings?joined=" in joined.headers["location"]
    mine = (await client.get(joined.headers["location"])).text
    assert "You are on the waiting list." in mine and "Waiting: number 1 in line" in mine
    student_cookies = dict(client.cookies)

    client.cookies.clear()
    client.cookies.update(sme_cookies)
    assert (await client.post(f"/facilities/bookings/{booking}/cancel", data={"csrf": csrf})).status_code == 303
    client.cookies.clear()
    client.cookies.update(student_cookies)

    async def offered() -> bool:
        return "/claim" in (await client.get("/facilities/bookings")).text

    await eventually(offered, timeout_s=20, what="the freed slot offered to the first in line")
    mine = (await client.get("/facilities/bookings")).text
    assert re.search(r"Offered to you: 10:00\u202fAM–11:00\u202fAM is held for you until", mine)
    [entry] = re.findall(r"/facilities/waitlist/([\w@.-]+)/claim", mine)
    claimed = await client.post(f"/facilities/waitlist/{entry}/claim", data={"csrf": student})
    assert claimed.status_code == 303 and "booked=" in claimed.headers["location"]
    after = (await client.get(claimed.headers["location"])).text
    assert re.search(
        r"<th scope=\"row\">Hot desk 3</th>\s*<td>[^<]*10:00\u202fAM[^<]*</td>\s*<td><span[^>]*>Confirmed", after
    )
    assert "My places in line" not in after  # the API lists only the places still held
    again = await client.post(f"/facilities/waitlist/{entry}/claim", data={"csrf": student})
    assert again.status_code == 409 and 'class="problem"' in again.text  # claimed once: said on the page

    # a resource that asks for check-in 15 minutes after the start: too early to check in a week ahead
    made = await client.post(
        "/api/v1/facilities/resources",
        json={
            "site_id": "ork-rubicon",
            "name": "Hot desk 9",
            "kind": "hot_desk",
            "policy": {"check_in_grace_minutes": 15},
        },
        headers={"Authorization": token("co", "region_admin")},
    )
    assert made.status_code == 201, made.text
    desk = made.json()["id"]
    r = await client.post(f"{site}/book", data={"csrf": student, **slot, "resource_id": desk})
    assert r.status_code == 303
    mine = (await client.get("/facilities/bookings")).text
    assert "check in by" in mine and "/check-in" in mine
    [early] = re.findall(r"/facilities/bookings/([\w@.-]+)/check-in", mine)
    refused = await client.post(f"/facilities/bookings/{early}/check-in", data={"csrf": student})
    assert refused.status_code == 409 and 'class="problem"' in refused.text


async def test_a_weekly_series_skips_a_taken_date_and_fail_books_nothing(client: httpx.AsyncClient) -> None:
    site = "/facilities/sites/ork-rubicon"
    first = weekday_ahead(2)
    csrf = await sign_in(client)
    taken = {"resource_id": "ork-rubicon-desk-4", "day": (first + timedelta(days=7)).isoformat()}
    r = await client.post(f"{site}/book", data={"csrf": csrf, **taken, "start": "10:00", "end": "11:00"})
    assert r.status_code == 303
    series = {
        "csrf": csrf,
        "series_resource_id": "ork-rubicon-desk-4",
        "series_day": first.isoformat(),
        "series_start": "10:00",
        "series_end": "11:00",
        "series_weeks": "3",
        "series_on_conflict": "skip",
    }
    r = await client.post(f"{site}/series", data=series | {"series_weeks": "1"})
    assert r.status_code == 422 and 'id="series_weeks-error"' in r.text  # a series is 2 weeks or more
    r = await client.post(f"{site}/series", data=series | {"series_end": "09:00"})  # the API's reason, at the field
    assert r.status_code == 422
    assert re.search(r'id="series_end"[^>]*aria-invalid="true" aria-describedby="series_end-error"', r.text)
    failed = await client.post(f"{site}/series", data=series | {"series_on_conflict": "fail"})
    assert failed.status_code == 409  # nothing booked; the second week is named, in words
    second = (first + timedelta(days=7)).strftime("%b %-d, %Y")
    assert f"<li>{second}, 10:00\u202fAM: already booked</li>" in failed.text
    assert (await client.get("/facilities/bookings")).text.count('<th scope="row">Hot desk 4</th>') == 1  # only one
    made = await client.post(f"{site}/series", data=series)
    assert made.status_code == 303 and "/facilities/series/" in made.headers["location"]
    page = (await client.get(made.headers["location"])).text
    assert "Your weekly booking is made." in page and "2 of 3 dates booked." in page
    rows = re.findall(r"<td>(Booked|Not booked)</td>\s*<td>([^<]*)</td>", page)
    assert rows == [("Booked", ""), ("Not booked", "already booked"), ("Booked", "")]


async def test_the_manager_page_lists_no_shows(client: httpx.AsyncClient) -> None:
    await sign_in(client, "demo-manager")
    page = (await client.get("/facilities/manage")).text
    assert '<h2 id="no-shows-title">No-shows</h2>' in page
    assert "No booking has been released for a no-show." in page  # the demo has none yet


async def test_an_engagement_from_milestones_to_ratings(client: httpx.AsyncClient, token: TokenFactory) -> None:
    """An academic's change of perspective at the demo SME, proposed and accepted through the API; then the
    engagement in the browser: the host plans a milestone (the API's reason at its field first), the
    academic ticks it done, the host completes, each side rates once."""
    sme = {"Authorization": token("demo-sme", "sme_member", org="Cork Precision Tooling")}
    academic = {"Authorization": token("demo-academic", "academic", org="Munster Technological University")}
    body = CHALLENGE | {"programme": "change_of_perspective", "title": "Visiting researcher: coolant", "skills": []}
    r = await client.post("/api/v1/matching/challenges", json=body, headers=sme)
    assert r.status_code == 201, r.text
    profile = {"kind": "academic", "languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-12-31"}
    assert (await client.put("/api/v1/matching/candidates/me", json=profile, headers=academic)).status_code == 200
    ranked = await client.put(
        "/api/v1/matching/candidates/me/preferences", json={"ranking": [r.json()["id"]]}, headers=academic
    )
    assert ranked.status_code == 200
    run = {"programme": "change_of_perspective", "term": "2027-spring"}
    made = await client.post(
        "/api/v1/matching/rounds", json=run, headers={"Authorization": token("co", "region_admin")}
    )
    assert made.status_code == 201, made.text
    [match] = [a for a in (await client.get("/api/v1/matching/matches", headers=academic)).json()]
    for side in (academic, sme):
        assert (await client.post(f"/api/v1/matching/matches/{match['id']}/accept", headers=side)).status_code == 200
    url = f"/matching/matches/{match['id']}"

    host = await sign_in(client, "demo-sme")
    assert f'<a href="{url}">' in (await client.get("/matching/matches")).text
    r = await client.post(f"{url}/step/milestones", data={"csrf": host, "title": "Report", "due_on": "2027-13-01"})
    assert r.status_code == 422 and 'id="due_on-error"' in r.text  # the form's own check
    r = await client.post(f"{url}/step/milestones", data={"csrf": host, "title": "ab", "due_on": "2027-03-01"})
    assert r.status_code == 422  # the API's bound (3 characters), at the field
    assert re.search(r'id="title-error"><strong>Error:</strong> [^<]*at least 3 characters', r.text)
    r = await client.post(
        f"{url}/step/milestones", data={"csrf": host, "title": "Baseline report", "due_on": "2027-03-01"}
    )
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=milestones"
    page = (await client.get(r.headers["location"])).text
    assert re.search(r'<th scope="row">1. Baseline report</th>\s*<td>Monday, March 1, 2027</td>', page)
    host_cookies = dict(client.cookies)
    client.cookies.clear()
    guest = await sign_in(client, "demo-academic")
    r = await client.post(f"{url}/step/done-1", data={"csrf": guest})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=done"
    assert f"{url}/step/complete" not in (await client.get(url)).text  # only the host completes
    guest_cookies = dict(client.cookies)
    client.cookies.clear()
    client.cookies.update(host_cookies)
    assert (await client.post(f"{url}/step/complete", data={"csrf": host})).status_code == 303
    r = await client.post(f"{url}/step/ratings", data={"csrf": host, "score": "6"})
    assert r.status_code == 422 and 'id="score-error"' in r.text
    r = await client.post(f"{url}/step/ratings", data={"csrf": host, "score": "5", "comment": "Fresh eyes"})
    assert r.status_code == 303
    page = (await client.get(url)).text
    assert "<li>Host: 5 of 5 · Fresh eyes</li>" in page and "<li>Candidate: not rated yet</li>" in page
    assert f"{url}/step/ratings" not in page  # rated once
    again = await client.post(f"{url}/step/ratings", data={"csrf": host, "score": "4"})
    assert again.status_code == 409 and 'class="problem"' in again.text
    client.cookies.clear()
    client.cookies.update(guest_cookies)
    assert f"{url}/step/ratings" in (await client.get(url)).text  # the other side still may


async def test_a_member_votes_on_a_proposal_the_secretary_put(client: httpx.AsyncClient) -> None:
    council = "/councils/council-cork"
    csrf = await sign_in(client)
    assert "The decisions are for the council" in (await client.get(f"{council}/decisions")).text  # not a member
    form = {"csrf": csrf, "constituency": "sme", "display_name": "Aoife Murphy"}
    assert (await client.post(f"{council}/apply", data=form)).status_code == 303
    sme_cookies = dict(client.cookies)
    client.cookies.clear()
    secretary = await sign_in(client, "demo-secretary")
    [request] = re.findall(r"/requests/([\w-]+)/approve", (await client.get(council)).text)
    assert (await client.post(f"{council}/requests/{request}/approve", data={"csrf": secretary})).status_code == 303
    r = await client.post(f"{council}/decisions/open", data={"csrf": secretary, "title": ""})
    assert r.status_code == 422 and 'id="title-error"' in r.text
    r = await client.post(f"{council}/decisions/open", data={"csrf": secretary, "title": "Join the EU testbed network"})
    assert r.status_code == 303 and r.headers["location"] == f"{council}/decisions?done=opened"
    page = (await client.get(r.headers["location"])).text
    [did] = re.findall(r"/decisions/([\w-]+)/vote", page)
    staff = await client.post(f"{council}/decisions/{did}/vote", data={"csrf": secretary, "option": "endorse"})
    assert staff.status_code == 403 and 'class="problem"' in staff.text  # staff do not vote: the API says so
    client.cookies.clear()
    client.cookies.update(sme_cookies)
    r = await client.post(f"{council}/decisions/{did}/vote", data={"csrf": csrf})
    assert r.status_code == 422 and f'id="option-{did}-error"' in r.text
    r = await client.post(f"{council}/decisions/{did}/vote", data={"csrf": csrf, "option": "object", "reason": "Cost"})
    assert r.status_code == 303 and r.headers["location"] == f"{council}/decisions?done=voted"
    mine = (await client.get(r.headers["location"])).text
    assert "<p>Tally: endorse 0, object 1, abstain 0</p>" in mine
    await client.post(f"{council}/decisions/{did}/vote", data={"csrf": csrf, "option": "endorse"})  # changed
    await client.post("/language", data={"csrf": csrf, "lang": "it", "next": "/"})
    italian = (await client.get(f"{council}/decisions")).text
    assert "<p>Conteggio: sostegno 1, obiezione 0, astensione 0</p>" in italian
