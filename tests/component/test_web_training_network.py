"""The network's placements (issue 21): partner regions' placements that involve this region, each marked
stale once its holding region has been silent longer than the threshold (as facilities' partner catalogue
marks them), and this region's cross-border counts, on /placements/network for its intermediaries (both)
and analysts (the counts); links to /placements and the coordinator pages in the site's navigation.
Bologna's (ITH5) placement events are published as MirrorMaker 2 would replicate them; the training
service's clock is set by the test; every expected figure is worked by hand."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.settings import RuntimeSettings
from contracts import training as tev
from instance.app import create_app
from tests.component.test_training_network import placement
from tests.component.test_web_training_work import People, error_of
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import Clock, eventually

API = "/api/v1/training"
LAST = datetime(2027, 1, 11, 10, tzinfo=UTC)  # Bologna's latest event
THRESHOLD = timedelta(seconds=600)


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(
        data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05, network_stale_after_s=600
    )


@pytest.fixture
async def app_client(settings: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    app.state.training.clock = Clock(LAST)
    async for c in asgi_client(app):
        yield app, c


async def listed(client: httpx.AsyncClient, who: dict[str, str], n: int) -> bool:
    return len((await client.get(f"{API}/network/placements", headers=who)).json()) == n


async def bolognas_two(app: FastAPI, client: httpx.AsyncClient, staff: dict[str, str], cork_host: str) -> None:
    """Bologna's desk proposes pl-1 (its applicant, hosted by ``cork_host`` in Cork) and pl-2 (Cork's
    person hosted in Bologna), then agrees pl-2 at LAST."""
    (training,) = [c for c in app.state.components if c.name == "training"]
    hosted = placement(
        tev.PlacementProposed, "pl-1", "2027-01-10T10:00:00+00:00", proposed_at="2027-01-10", host_id=cork_host
    )
    placed = placement(
        tev.PlacementProposed, "pl-2", "2027-01-09T10:00:00+00:00", host="ITH5", applicant="IE05",
        proposed_at="2027-01-09", host_id="host-bo-7",
    )  # fmt: skip
    agreed = placement(
        tev.PlacementAgreed, "pl-2", LAST.isoformat(), host="ITH5", applicant="IE05", host_id="host-bo-7",
        start="2027-03-01", end="2027-04-25", agreed_at=LAST.isoformat(),
    )  # fmt: skip
    await training.bus.publish("ith5.training.events", [hosted, placed, agreed])
    await eventually(functools.partial(listed, client, staff, 2), 30, "Bologna's two placements projected")


async def test_partner_placements_turn_stale_just_past_the_threshold(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    app, client = app_client
    staff = {"Authorization": token("rita", "region_admin")}
    await bolognas_two(app, client, staff, "host-cork-1")
    for after, stale in (
        (THRESHOLD - timedelta(seconds=1), False),
        (THRESHOLD, False),
        (THRESHOLD + timedelta(seconds=1), True),
    ):
        app.state.training.clock = Clock(LAST + after)
        rows = (await client.get(f"{API}/network/placements", headers=staff)).json()
        assert [(r["placement_id"], r["stale"]) for r in rows] == [("pl-2", stale), ("pl-1", stale)], after
        assert {datetime.fromisoformat(r["partner_last_event_at"]) for r in rows} == {LAST}


async def test_the_network_page_for_intermediaries_and_analysts(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    app, client = app_client
    staff = {"Authorization": token("rita", "region_admin")}
    cork = {"Authorization": token("demo-sme", "sme_member", org="Cork Precision Tooling")}
    host: dict[str, Any] = {"name": "Cork Precision Tooling", "kind": "sme", "years_running": 12, "places": 2}
    host |= {"offers": ["lean"], "seeks": ["welding"], "languages": ["en"]}
    r = await client.post(f"{API}/hosts", json=host, headers=cork)
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    accepted = {"decision": "accepted", "note": ""}
    assert (await client.post(f"{API}/hosts/{hid}/screening", json=accepted, headers=staff)).status_code == 200
    await bolognas_two(app, client, staff, hid)

    people = People(client)
    await people.as_("demo-admin")
    app.state.training.clock = Clock(LAST + THRESHOLD)  # at the threshold: not stale yet
    page = (await client.get("/placements/network")).text
    assert '<a href="/training/coordinate">' in page and '<a href="/placements" aria-current="page">' in page
    assert "No placement of this region has been agreed yet." in page
    for status in ("Proposed", "Agreed", "Completed", "Ended early"):
        assert f'<th scope="row">{status}</th><td>0</td><td>0</td>' in page
    rows = re.findall(r"<tr>\s*<th scope=\"row\"><span class=\"badge\">ITH5</span> (pl-\d)(.*?)</tr>", page, re.S)
    assert [p for p, _ in rows] == ["pl-2", "pl-1"]  # the latest change first
    pl2, pl1 = (cells for _, cells in rows)
    assert "<td>Cork Precision Tooling (IE05) · across a border</td>" in pl1  # our host, by name
    assert "<td>host-bo-7 (ITH5) · across a border</td>" in pl2 and "<td>8</td>" in pl2
    assert "<td>Agreed: Mar 1, 2027 – Apr 25, 2027</td>" in pl2 and "<td>Proposed</td>" in pl1
    assert "May be out of date" not in page
    app.state.training.clock = Clock(LAST + THRESHOLD + timedelta(seconds=1))
    page = (await client.get("/placements/network")).text
    assert page.count("May be out of date: nothing heard from ITH5 since Jan 11, 2027, 10:00\u202fAM.") == 2

    # by side; a side the page does not know: refused at the field, nothing listed
    hosted = (await client.get("/placements/network", params={"side": "host"})).text
    assert "pl-1" in hosted and "pl-2" not in hosted and '<option value="host" selected>' in hosted
    placed = (await client.get("/placements/network", params={"side": "applicant"})).text
    assert "pl-2" in placed and "pl-1" not in placed
    bad = await client.get("/placements/network", params={"side": "both"})
    assert bad.status_code == 422 and error_of(bad, "side") == "Choose which placements to show."
    assert "pl-1" not in bad.text and "pl-2" not in bad.text

    # a placement of Cork's own desk agreed by its four parties (in Cork: no border crossed)
    student = {"Authorization": token("demo-student", "student")}
    applied = {"kind": "sme_staff", "offers": ["welding"], "seeks": ["lean"], "languages": ["en"]}
    aid = (await client.post(f"{API}/applicants", json=applied, headers=student)).json()["id"]
    assert (await client.post(f"{API}/applicants/{aid}/screening", json=accepted, headers=staff)).status_code == 200
    terms = {
        "objectives": ["Learn lean"],
        "activity_plan": "On the line.",
        "parts": [{"start": "2027-02-01", "weeks": 4}],
    }
    r = await client.post(f"{API}/placements", json={"applicant_id": aid, "host_id": hid, **terms}, headers=staff)
    assert r.status_code == 201, r.text
    secretary = {"Authorization": token("demo-secretary", "council_secretary")}
    for who, party in (
        (student, "applicant"),
        (cork, "host"),
        (staff, "sending_intermediary"),
        (secretary, "host_intermediary"),
    ):
        url = f"{API}/placements/{r.json()['id']}/acceptances"
        assert (await client.post(url, json={"party": party, "revision": 1}, headers=who)).status_code == 200
    page = (await client.get("/placements/network")).text
    said = "Of 1 agreed placement of this region (agreed, completed or ended early), 0 crossed a border: 0%."
    assert said in page
    assert '<th scope="row">Agreed</th><td>1</td><td>0</td>' in page

    # an analyst: the counts, not the partners' placements; a student: not these pages
    await people.as_("demo-analyst")
    page = (await client.get("/placements/network")).text
    assert said in page and "pl-1" not in page and "Placements held by partner regions" not in page
    assert '<a href="/training/coordinate">' not in page and '<a href="/placements"' in page
    await people.as_("demo-student")
    refused = await client.get("/placements/network")
    assert refused.status_code == 403 and "intermediaries and analysts" in refused.text
    assert 'href="/placements/network"' not in (await client.get("/placements")).text
