"""The managers' pages of the web client (embedded): the organisation's sites with their resources;
registering a site, listing a resource at it and recording a training, each through the public API and
each refusing bad input next to its field with nothing written; a site's usage as a chart and the same
figures as a table; a week of availability as a calendar; my series on my bookings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_pages import sign_in, weekday_ahead
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid
from web.pages.facilities import hour_cell, week_hours

MANAGE = "/facilities/manage/resources"
HOURS = {f"site_{d}_{p}": "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") for p in ("open", "close")}


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


def error_at(text: str, field: str) -> str | None:
    """The reason shown under ``field``, if the field is marked invalid and tied to it."""
    if not re.search(rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"', text):
        return None
    m = re.search(rf'<p class="field-error" id="{field}-error"><strong>Error:</strong> ([^<]*)</p>', text)
    return m.group(1) if m else None


async def sites_named(client: httpx.AsyncClient, auth: str, name: str) -> list[dict[str, object]]:
    r = await client.get("/api/v1/facilities/sites", params={"limit": 200}, headers={"Authorization": auth})
    return [s for s in r.json() if s["name"] == name]


async def test_a_manager_sees_the_organisations_sites_and_registers_one_with_a_resource_and_a_training(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    csrf = await sign_in(client, "demo-manager")
    page = await client.get(MANAGE)
    assert page.status_code == 200
    assert '<h2 id="site-ork-rubicon">Rubicon Centre, MTU Bishopstown</h2>' in page.text
    assert '<th scope="row">Hot desk 2</th>' in page.text  # a seeded resource of that site
    assert "mlg-pta" not in page.text  # another organisation's site (another region's, too)
    site = {"csrf": csrf, **HOURS, "site_name": "MTU Kerry Campus", "site_kind": "university"}
    site |= {"site_city": "Tralee", "site_address": "Clash, Tralee V92 CX88", "site_timezone": "Europe/Dublin"}
    site |= {"site_mon_open": "09:00", "site_mon_close": "17:30", "site_sat_open": "10:00", "site_sat_close": "12:00"}
    r = await client.post("/facilities/manage/sites", data=site)
    assert r.status_code == 303 and r.headers["location"].startswith(f"{MANAGE}?done=site&made=")
    made = r.headers["location"].split("made=")[1]
    manager = token("demo-manager", "facility_manager", org="Munster Technological University")
    [stored] = await sites_named(client, manager, "MTU Kerry Campus")
    assert stored["id"] == made and stored["organisation"] == "IE05:Munster Technological University"
    assert stored["opening_hours"] == {
        "mon": [{"open": "09:00", "close": "17:30"}],
        "sat": [{"open": "10:00", "close": "12:00"}],
    }
    listed = await client.get(r.headers["location"])
    assert "The site is registered." in listed.text and "No resource is listed at this site yet." in listed.text
    assert "Monday 09:00–17:30; Saturday 10:00–12:00" in listed.text

    resource = {"csrf": csrf, "res_site_id": made, "res_name": "Bench lathe", "res_kind": "equipment"}
    resource |= {"res_capacity": "2", "res_max_duration_minutes": "120", "res_max_days_ahead": "14"}
    resource |= {"res_check_in_grace_minutes": "10", "res_required_training": "lathe-safety"}
    resource |= {"res_eligible_regions": "ie05, IE04", "res_role_sme_member": "yes", "res_requires_approval": "yes"}
    r = await client.post("/facilities/manage/resources", data=resource)
    assert r.status_code == 303 and "done=resource" in r.headers["location"]
    rid = r.headers["location"].split("made=")[1]
    api = await client.get(f"/api/v1/facilities/resources/{rid}", headers={"Authorization": manager})
    body = api.json()
    assert (body["site_id"], body["name"], body["kind"], body["capacity"]) == (made, "Bench lathe", "equipment", 2)
    policy = body["policy"]
    assert policy["max_duration_minutes"] == 120 and policy["max_days_ahead"] == 14
    assert policy["eligible_regions"] == ["IE05", "IE04"] and policy["eligible_roles"] == ["sme_member"]
    assert policy["requires_approval"] is True and policy["required_training"] == "lathe-safety"
    assert policy["check_in_grace_minutes"] == 10
    shown = (await client.get(r.headers["location"])).text
    assert "The resource is listed." in shown and '<th scope="row">Bench lathe</th>' in shown
    assert "at most 120 minutes a booking; up to 14 days ahead; needs approval" in shown

    day = weekday_ahead(5)
    r = await client.post(
        "/facilities/manage/trainings",
        data={
            "csrf": csrf,
            "tr_person": pid("demo-student"),
            "tr_training": "lathe-safety",
            "tr_valid_until": day.isoformat(),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"{MANAGE}?done=training"
    assert "The training is recorded." in (await client.get(r.headers["location"])).text


async def test_each_form_names_its_bad_field_and_writes_nothing(client: httpx.AsyncClient, token: TokenFactory) -> None:
    csrf = await sign_in(client, "demo-manager")
    manager = token("demo-manager", "facility_manager", org="Munster Technological University")
    site = {"csrf": csrf, **HOURS, "site_name": "Nowhere Lab", "site_kind": "university", "site_city": "Cork"}
    site |= {"site_address": "1 Main St", "site_timezone": "Europe/Dublin", "site_tue_open": "09:00"}
    # the form's own checks: Tuesday closes before it opens (at 09:00 itself: not after), an empty city
    r = await client.post("/facilities/manage/sites", data=site | {"site_tue_close": "09:00", "site_city": ""})
    assert r.status_code == 422
    assert error_at(r.text, "site_tue_close") == "Enter a closing time after the opening time."
    assert error_at(r.text, "site_city") == "Enter this." and error_at(r.text, "site_tue_open") is None
    # a minute after opening is accepted by the form; the API refuses the time zone, named at its field
    r = await client.post(
        "/facilities/manage/sites", data=site | {"site_tue_close": "09:01", "site_timezone": "Mars/Olympus"}
    )
    assert r.status_code == 422 and error_at(r.text, "site_timezone")
    assert 'class="problem" role="alert"' in r.text
    assert await sites_named(client, manager, "Nowhere Lab") == []

    before = await client.get(
        "/api/v1/facilities/resources", params={"site_id": "ork-rubicon"}, headers={"Authorization": manager}
    )
    resource = {"csrf": csrf, "res_site_id": "ork-rubicon", "res_name": "Spare room", "res_kind": "meeting_room"}
    resource |= {"res_capacity": "1", "res_max_duration_minutes": "60", "res_max_days_ahead": "30"}
    for field, bad, good in (
        ("res_capacity", "0", "1"),
        ("res_capacity", "501", "500"),
        ("res_max_duration_minutes", "14", "15"),
        ("res_max_duration_minutes", "10081", "10080"),
        ("res_check_in_grace_minutes", "241", "240"),
        ("res_max_days_ahead", "-1", "0"),
    ):
        r = await client.post("/facilities/manage/resources", data=resource | {field: bad})
        assert (
            r.status_code == 422
            and error_at(r.text, field)
            == "Enter a whole number from "
            + {
                "res_capacity": "1 to 500.",
                "res_max_duration_minutes": "15 to 10080.",
                "res_check_in_grace_minutes": "1 to 240.",
                "res_max_days_ahead": "0 to 365.",
            }[field]
        ), (field, bad)
        # the bound itself passes the form's check (an empty name keeps the form from posting it)
        r = await client.post("/facilities/manage/resources", data=resource | {field: good, "res_name": ""})
        assert r.status_code == 422 and error_at(r.text, field) is None and error_at(r.text, "res_name")
    r = await client.post("/facilities/manage/resources", data=resource | {"res_eligible_regions": "IE05, IE5"})
    assert r.status_code == 422 and "IE5" in (error_at(r.text, "res_eligible_regions") or "")
    after = await client.get(
        "/api/v1/facilities/resources", params={"site_id": "ork-rubicon"}, headers={"Authorization": manager}
    )
    assert len(after.json()) == len(before.json())

    r = await client.post(
        "/facilities/manage/trainings",
        data={"csrf": csrf, "tr_person": "bob", "tr_training": "lathe-safety", "tr_valid_until": "2030-01-01"},
    )
    assert r.status_code == 422 and error_at(r.text, "tr_person")  # the API's reason: not a platform id
    r = await client.post(
        "/facilities/manage/trainings",
        data={"csrf": csrf, "tr_person": pid("demo-student"), "tr_training": "", "tr_valid_until": "soon"},
    )
    assert r.status_code == 422 and error_at(r.text, "tr_training") == "Enter this."
    assert error_at(r.text, "tr_valid_until") == "Enter a date."


async def test_the_managers_pages_are_for_managers(client: httpx.AsyncClient) -> None:
    await sign_in(client, "demo-sme")
    assert (await client.get(MANAGE)).status_code == 403
    assert (await client.get("/facilities/manage/sites/ork-rubicon")).status_code == 403  # the API's refusal


async def test_a_sites_usage_as_a_chart_and_a_table(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    day = weekday_ahead(8)
    for resource, start, end in (("ork-rubicon-room-1", "09:00", "10:30"), ("ork-rubicon-room-1", "11:00", "11:45")):
        form = {"csrf": csrf, "resource_id": resource, "day": day.isoformat(), "start": start, "end": end}
        assert (await client.post("/facilities/sites/ork-rubicon/book", data=form)).status_code == 303
    client.cookies.clear()
    await sign_in(client, "demo-manager")
    # 90 + 45 minutes on one day: 2.25 h, shown to one decimal as 2.2 (CLDR rounds half to even)
    expected = "<td>2.2 h (2 bookings)</td>"

    async def shown() -> bool:
        return expected in (await client.get("/facilities/manage/sites/ork-rubicon")).text

    await eventually(shown, 30, "the usage projection")
    page = (await client.get("/facilities/manage/sites/ork-rubicon")).text
    assert re.search(rf'<th scope="row">{day.strftime("%b %-d, %Y")}</th>', page)
    assert '<th scope="col">Meeting room Atlas</th>' in page
    assert "No booking has been released for a no-show." in page
    svg = await client.get("/facilities/manage/sites/ork-rubicon/usage.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "Meeting room Atlas" in svg.text
    assert day.strftime("%b %-d, %Y") in svg.text  # the day as the table writes it
    assert svg.headers["content-security-policy"].startswith("default-src 'none'")  # pygal's inline script never runs


# The week view ----------------------------------------------------------------------------------------
DUBLIN = ZoneInfo("Europe/Dublin")


def at(day: date, hh: int, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss, us), DUBLIN)


def test_the_weeks_hours_run_from_the_first_opening_to_the_last_closing() -> None:
    week = {"mon": [{"open": "08:00", "close": "20:00"}], "sat": [{"open": "09:00", "close": "13:00"}]}
    assert week_hours(week) == range(8, 20)  # 08:00 ... the 19:00-20:00 row
    assert week_hours({"tue": [{"open": "07:30", "close": "17:30"}]}) == range(7, 18)  # 17:30: the 17:00 row shows
    assert week_hours({"tue": [{"open": "09:00", "close": "17:01"}]}) == range(9, 18)
    assert week_hours({}) == range(8, 20)


def test_an_hour_is_free_partly_free_booked_closed_or_past() -> None:
    d = date(2027, 3, 3)
    long_ago = at(d, 0) - timedelta(days=1)
    free = [(at(d, 9), at(d, 10))]  # exactly the hour: free
    assert hour_cell(free, [], at(d, 9), long_ago) == {"state": "free", "start": at(d, 9), "end": at(d, 10)}
    short = [(at(d, 9), at(d, 9, 59, 59))]  # a second short of it: partly, its free part
    assert hour_cell(short, [], at(d, 9), long_ago) == {"state": "partly", "start": at(d, 9), "end": at(d, 9, 59, 59)}
    late = [(at(d, 9, 30), at(d, 12))]
    assert hour_cell(late, [(at(d, 9), at(d, 9, 30))], at(d, 9), long_ago)["state"] == "partly"
    assert hour_cell([], [(at(d, 9, 59), at(d, 11))], at(d, 9), long_ago) == {"state": "busy"}
    assert hour_cell([], [(at(d, 10), at(d, 11))], at(d, 9), long_ago) == {"state": "closed"}  # touches, not overlaps
    assert hour_cell(free, [], at(d, 9), at(d, 10)) == {"state": "past"}  # it ended at now
    assert hour_cell(free, [], at(d, 9), at(d, 9, 59, 59, 999999))["state"] == "free"  # a microsecond left


def week_table(text: str, name: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """A resource's week table: each row's hour and its cells (class, inner html)."""
    start = text.index(f"<caption>{name}: the week by hour</caption>")
    table = text[start : text.index("</table>", start)]
    rows = re.findall(r'<tr>\s*<th scope="row">([^<]*)</th>(.*?)</tr>', table, re.S)
    return [(hour, re.findall(r'<td class="(\w+)">(.*?)</td>', cells, re.S)) for hour, cells in rows]


async def test_the_site_week_as_a_calendar_and_a_free_hour_fills_in_the_booking_form(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    day = weekday_ahead(10)
    monday = day - timedelta(days=day.weekday())
    col = day.weekday()
    site = "/facilities/sites/ork-rubicon"
    form = {"csrf": csrf, "resource_id": "ork-rubicon-room-1", "day": day.isoformat(), "start": "10:00", "end": "11:00"}
    assert (await client.post(f"{site}/book", data=form)).status_code == 303
    half = form | {"resource_id": "ork-rubicon-desk-1", "start": "10:30", "end": "11:00"}
    assert (await client.post(f"{site}/book", data=half)).status_code == 303
    page = await client.get(site, params={"week": day.isoformat(), "resource": "ork-rubicon-room-1"})
    assert page.status_code == 200  # any day of the week shows its Monday's; one resource's week at a time
    assert page.text.count('<table class="week">') == 1
    assert '<option value="ork-rubicon-room-1" selected>Meeting room Atlas (Meeting room)</option>' in page.text
    assert f'<h2 id="week-title">Week of {monday.strftime("%B %-d, %Y")}</h2>' in page.text
    assert f'<th scope="col">Monday<br>{monday.strftime("%b %-d, %Y")}</th>' in page.text
    room = dict(week_table(page.text, "Meeting room Atlas"))
    assert list(room)[:1] == ["8:00\u202fAM"] and list(room)[-1] == "7:00\u202fPM"  # the site opens 08:00-20:00
    assert room["10:00\u202fAM"][col][0] == "busy" and "Booked" in room["10:00\u202fAM"][col][1]
    assert room["11:00\u202fAM"][col][0] == "free"
    nine = room["9:00\u202fAM"][col]
    assert nine[0] == "free" and '<span class="slot free">Free</span>' in nine[1]
    link = f"?day={day.isoformat()}&amp;week={monday.isoformat()}&amp;resource_id=ork-rubicon-room-1"
    link += "&amp;start=09:00&amp;end=10:00#book-title"
    assert f'href="{link}"' in nine[1]
    assert room["9:00\u202fAM"][6] == ("closed", "Closed")  # Sunday: the demo site is closed
    assert room["1:00\u202fPM"][5] == ("closed", "Closed") and room["12:00\u202fPM"][5][0] == "free"  # Saturday 09-13
    desks = await client.get(site, params={"week": monday.isoformat(), "resource": "ork-rubicon-desk-1"})
    desk = dict(week_table(desks.text, "Hot desk 1"))
    assert (
        desk["10:00\u202fAM"][col][0] == "partly"
        and "Free 10:00\u202fAM–10:30\u202fAM" in desk["10:00\u202fAM"][col][1]
    )
    assert "start=10:00&amp;end=10:30" in desk["10:00\u202fAM"][col][1]
    following, previous = (monday + timedelta(days=7)).isoformat(), (monday - timedelta(days=7)).isoformat()
    assert f'&amp;week={following}&amp;resource=ork-rubicon-room-1">Next week</a>' in page.text
    assert f'&amp;week={previous}&amp;resource=ork-rubicon-room-1">Previous week</a>' in page.text
    # the free hour's link: the day's booking form, filled in
    filled = await client.get(
        site,
        params={
            "day": day.isoformat(),
            "week": monday.isoformat(),
            "resource_id": "ork-rubicon-room-1",
            "start": "09:00",
            "end": "10:00",
        },
    )
    assert '<option value="ork-rubicon-room-1" selected>' in filled.text
    assert "<caption>Meeting room Atlas: the week by hour</caption>" in filled.text  # its week stays shown
    assert f'id="day" name="day" value="{day.isoformat()}"' in filled.text
    assert 'id="start" name="start" value="09:00"' in filled.text and 'id="end" name="end" value="10:00"' in filled.text


# My series on my bookings -----------------------------------------------------------------------------
async def test_my_bookings_list_my_series_with_a_link_to_each(client: httpx.AsyncClient, token: TokenFactory) -> None:
    site = "/facilities/sites/ork-rubicon"
    first = weekday_ahead(3)
    csrf = await sign_in(client)
    taken = {"resource_id": "ork-rubicon-desk-3", "day": (first + timedelta(days=7)).isoformat()}
    r = await client.post(f"{site}/book", data={"csrf": csrf, **taken, "start": "15:00", "end": "16:00"})
    assert r.status_code == 303
    series = {"csrf": csrf, "series_resource_id": "ork-rubicon-desk-3", "series_day": first.isoformat()}
    series |= {"series_start": "15:00", "series_end": "16:00", "series_weeks": "3", "series_on_conflict": "skip"}
    made = await client.post(f"{site}/series", data=series)
    weekly = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    # two more through the API as the same person: a daily rule and one the page does not put in words
    me = {"Authorization": token("demo-sme", "sme_member", org="Cork Precision Tooling")}
    other = {}
    for rule, day in (("FREQ=DAILY;COUNT=2", weekday_ahead(20)), ("FREQ=WEEKLY;INTERVAL=2;COUNT=2", weekday_ahead(4))):
        start = datetime.combine(day, time(8, 0), DUBLIN)
        body = {"resource_id": "ork-rubicon-desk-3", "start": start.isoformat(), "rrule": rule, "on_conflict": "skip"}
        body["end"] = (start + timedelta(minutes=30)).isoformat()
        r = await client.post("/api/v1/facilities/series", json=body, headers=me)
        assert r.status_code == 201, r.text
        other[rule] = r.json()["id"]
    page = (await client.get("/facilities/bookings")).text
    rows = re.findall(
        r'<tr>\s*<th scope="row"><a href="/facilities/series/([^"]+)">([^<]*)</a></th>(.*?)</tr>', page, re.S
    )
    assert [x[0] for x in rows] == [other["FREQ=WEEKLY;INTERVAL=2;COUNT=2"], other["FREQ=DAILY;COUNT=2"], weekly]
    cells = {sid: re.findall(r"<td>([^<]*)</td>", rest) for sid, _name, rest in rows}
    when = f"{first.strftime('%b %-d, %Y')}, 3:00\u202fPM – 4:00\u202fPM"
    assert cells[weekly] == ["Every week, 3 dates", when, "2 booked, 1 not booked, 0 cancelled", "Active"]
    assert cells[other["FREQ=DAILY;COUNT=2"]][0] == "Every day, 2 dates"
    rule = cells[other["FREQ=WEEKLY;INTERVAL=2;COUNT=2"]][0]  # not in words: the rule itself (in the API's order)
    assert set(rule.split(";")) == {"FREQ=WEEKLY", "INTERVAL=2", "COUNT=2"}
    assert rows[2][1] == "Hot desk 3"
    assert "2 of 3 dates booked." in (await client.get(f"/facilities/series/{weekly}")).text  # the link's page
