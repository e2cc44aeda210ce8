"""The applicants of a challenge, as its host side reads them to rank them (``GET /challenges/{id}/applicants``):
the candidates whose ranking names it, each with what the host judges by and the rank they gave it, the host's
ranking and the ETag to change it with; for anyone else 404. And a candidate's optional display name."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from tests.component.test_matching_api import API, People, app, bare, challenge, fields, problem, profile, who
from tests.helpers import pid

__all__ = ["app", "bare", "who"]  # the fixtures, shared with the matching API's tests

SME = ("aoife", "sme_member")
ORG = "rubicon"
SEEN = {  # what the host side sees of an applicant: no issuer, subject, preferences, organisation or times
    "id",
    "display_name",
    "kind",
    "skills",
    "languages",
    "programme_of_study",
    "available_from",
    "available_until",
    "cross_border",
    "home_region",
    "rank",
}


async def test_the_host_side_lists_the_candidates_who_rank_its_challenge_and_ranks_them(
    app: tuple[FastAPI, httpx.AsyncClient], who: People
) -> None:
    _, client = app
    sme = who(*SME, org=ORG)
    a = (await client.post(f"{API}/challenges", json=challenge(title="Line energy model"), headers=sme)).json()["id"]
    b = (await client.post(f"{API}/challenges", json=challenge(title="Fixture redesign"), headers=sme)).json()["id"]
    students = {
        "s1": profile(display_name="Chiara Rossi", skills=["CAD"], cross_border=True),
        "s2": profile(programme_of_study="MEng Mechanical"),
        "s3": profile(),
    }
    rankings = {"s1": [b, a], "s2": [a], "s3": [b]}  # s1 puts a second, s2 first; s3 does not rank a
    for s, body in students.items():
        h = who(s, "student", region="ITH5" if s == "s1" else "IE05")
        assert (await client.put(f"{API}/candidates/me", json=body, headers=h)).status_code == 200
        r = await client.put(f"{API}/candidates/me/preferences", json={"ranking": rankings[s]}, headers=h)
        assert r.status_code == 200, r.text

    r = await client.get(f"{API}/challenges/{a}/applicants", headers=sme)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["challenge_id"], seen["title"], seen["status"], seen["applicant_ranking"]) == (
        a,
        "Line energy model",
        "open",
        [],
    )
    by_id = {x["id"]: x for x in seen["applicants"]}
    assert set(by_id) == {pid("s1"), pid("s2")}
    assert all(set(x) == SEEN for x in seen["applicants"])
    s1, s2 = by_id[pid("s1")], by_id[pid("s2")]
    assert (s1["display_name"], s1["rank"], s1["skills"], s1["cross_border"], s1["home_region"]) == (
        "Chiara Rossi",
        2,
        ["cad"],
        True,
        "ITH5",
    )
    assert (s2["display_name"], s2["rank"], s2["programme_of_study"], s2["home_region"]) == (
        None,
        1,
        "MEng Mechanical",
        "IE05",
    )
    tag = r.headers["etag"]
    assert tag == (await client.get(f"{API}/challenges/{a}", headers=sme)).headers["etag"]

    ranked = await client.put(
        f"{API}/challenges/{a}/ranking", json={"ranking": [pid("s2"), pid("s1")]}, headers={**sme, "If-Match": tag}
    )
    assert ranked.status_code == 200, ranked.text
    again = await client.get(f"{API}/challenges/{a}/applicants", headers=sme)
    assert again.json()["applicant_ranking"] == [pid("s2"), pid("s1")]
    assert again.headers["etag"] == ranked.headers["etag"] != tag
    stale = await client.put(
        f"{API}/challenges/{a}/ranking", json={"ranking": [pid("s1")]}, headers={**sme, "If-Match": tag}
    )
    problem(stale, 412)

    # the rest of the host side: its supervisor and the coordinator; a colleague of the same organisation
    for h in (who("prof-ucc", "academic"), who("co", "region_admin"), who("colleague", "sme_member", org=ORG)):
        assert (await client.get(f"{API}/challenges/{a}/applicants", headers=h)).status_code == 200
    # anyone else: as if the challenge did not exist
    for h in (who("other", "sme_member", org="another-sme"), who("prof-x", "academic"), who("aoife2", "sme_member")):
        problem(await client.get(f"{API}/challenges/{a}/applicants", headers=h), 404)
    problem(await client.get(f"{API}/challenges/ch-none/applicants", headers=sme), 404)
    refused = problem(await client.get(f"{API}/challenges/{a}/applicants", headers=who("s1", "student")), 403)
    assert refused["required_roles"] == ["academic", "region_admin", "sme_member"]


async def test_applicants_come_in_pages_of_at_most_200(app: tuple[FastAPI, httpx.AsyncClient], who: People) -> None:
    _, client = app
    sme = who(*SME, org=ORG)
    a = (await client.post(f"{API}/challenges", json=challenge(), headers=sme)).json()["id"]
    for s in ("s1", "s2", "s3"):
        h = who(s, "student")
        await client.put(f"{API}/candidates/me", json=profile(), headers=h)
        assert (await client.put(f"{API}/candidates/me/preferences", json={"ranking": [a]}, headers=h)).is_success
    url = f"{API}/challenges/{a}/applicants"
    first = await client.get(url, params={"limit": 2}, headers=sme)
    assert [x["id"] for x in first.json()["applicants"]] == sorted([pid("s1"), pid("s2"), pid("s3")])[:2]
    link = first.headers["link"]
    cursor = parse_qs(urlsplit(link.split(";")[0].strip("<>")).query)["cursor"][0]
    rest = await client.get(url, params={"limit": 2, "cursor": cursor}, headers=sme)
    assert [x["id"] for x in rest.json()["applicants"]] == sorted([pid("s1"), pid("s2"), pid("s3")])[2:]
    assert "link" not in rest.headers
    assert (await client.get(url, params={"limit": 200}, headers=sme)).status_code == 200
    for limit in (0, 201):
        assert fields(await client.get(url, params={"limit": limit}, headers=sme)) == {"limit"}


async def test_a_display_name_is_optional_one_line_and_at_most_100_characters(
    app: tuple[FastAPI, httpx.AsyncClient], who: People
) -> None:
    _, client = app
    h = who("s1", "student")
    url = f"{API}/candidates/me"
    for bad in ("", "x" * 101, "Chiara\nRossi"):
        assert fields(await client.put(url, json=profile(display_name=bad), headers=h)) == {"display_name"}
    problem(await client.get(url, headers=h), 404)  # nothing written
    r = await client.put(url, json=profile(display_name="x" * 100), headers=h)
    assert r.status_code == 200 and r.json()["display_name"] == "x" * 100
    r = await client.put(url, json=profile(display_name="  Chiara Rossi "), headers=h)
    assert r.json()["display_name"] == "Chiara Rossi"  # trimmed, as every string of the API's bodies
    r = await client.put(url, json=profile(), headers=h)
    assert r.status_code == 200 and r.json()["display_name"] is None  # left out: none
