"""Web client render time: each page of the finished journeys (the practice results with their peer
benchmark too) requested many times in-process (the regional app with its web client, demo data,
SQLite), p50 and p95 of the whole request: the page's calls to the API (in-process ASGI), the template
and the language's formats. Baseline, measured in the same run: the same API calls made directly with
the same token, one after another, so the ratio is what the web client adds on top of the data it needs.
Writes bench/results/web.json.

Run: ``python -m bench.web`` (add ``--requests N``)."""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile, write_result
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.app import create_app

SITE = "ork-rubicon"


def pages(day: str, sme: str, practices: str) -> dict[str, tuple[str, list[str]]]:
    """Each page and the API calls it makes (written from the page handlers), for the baseline."""
    window = f"from={day}T00:00:00%2B00:00&to={day}T23:59:00%2B00:00"
    return {
        "home": ("/", []),
        "facilities search": (
            "/facilities?q=cork",
            ["/facilities/sites?limit=200", "/facilities/resources?limit=200"],
        ),
        "site availability": (
            f"/facilities/sites/{SITE}?day={day}",
            [
                f"/facilities/sites/{SITE}",
                f"/facilities/resources?site_id={SITE}&limit=200",
                f"/facilities/sites/{SITE}/availability?{window}",
            ],
        ),
        "my bookings": (
            "/facilities/bookings",
            [
                "/facilities/bookings/mine?limit=200",
                "/facilities/resources?limit=200",
                "/facilities/waitlist/mine?limit=200",
            ],
        ),
        "assessment results": (
            f"/assessment/smes/{sme}",
            [
                f"/mapping/smes/{sme}",
                f"/mapping/smes/{sme}/assessments",
                "/mapping/instruments",
                "/mapping/instruments/2",
            ],
        ),
        "cluster explorer": ("/explorer?need=finance", ["/mapping/cluster-map"]),
        "challenge marketplace": ("/matching", ["/matching/challenges?limit=200"]),
        "practice results": (
            f"/training/practices/assessments/{practices}",
            [
                f"/training/assessments/{practices}",
                "/training/instruments/wms/1",
                f"/training/assessments/{practices}/benchmark",
                f"/training/plans?sme_id={sme}&limit=200",
            ],
        ),
    }


async def timed(client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    r = await client.get(path, headers=headers)
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return elapsed


async def self_assessed(client: httpx.AsyncClient, csrf: str, sme_id: str) -> str:
    """The SME's management-practice self-assessment (every practice 3) once training knows the SME (from
    mapping's event, consumed in its own time): the assessment's id."""
    take = (await client.get(f"/training/practices/{sme_id}/take")).text
    answers = {q: "3" for q in re.findall(r'name="(answers\.[a-z_]+)" value="1"', take)}
    for _ in range(600):
        r = await client.post(f"/training/practices/{sme_id}/take", data={"csrf": csrf, **answers})
        if r.status_code == 303:
            return str(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the practice self-assessment was refused: {r.status_code}")


async def run(requests: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="bench-web-"))
    settings = RuntimeSettings(data_dir=data, log_level="WARNING")
    app = create_app(settings, GatewaySettings(rate_limits=False))
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            home = await client.get("/")
            csrf = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
            await client.post("/sign-in/persona", data={"csrf": csrf, "persona": "demo-sme", "next": "/"})
            web: Any = next(m.kwargs["web"] for m in app.user_middleware if "web" in m.kwargs)
            session = web.state.web.sessions.signer.loads(client.cookies["cg_session"])  # the persona's token
            bearer = {"Authorization": f"Bearer {session['token']}"}
            day = date.today() + timedelta(days=2)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            form = {"csrf": csrf, "resource_id": f"{SITE}-desk-1", "day": day.isoformat(), "start": "10:00"}
            await client.post(f"/facilities/sites/{SITE}/book", data=form | {"end": "11:00"})
            sme_form = {
                "csrf": csrf, "legal_name": "Bench Ltd", "nuts3": "IE053", "nace_primary": "C28.29", "headcount": "12",
                "turnover_eur": "1000000", "balance_sheet_eur": "500000", "founded": "2010",
                "contact.name": "Bench", "contact.email": "bench@example.ie", "consent": "yes",
            }  # fmt: skip
            sme = (await client.post("/assessment/register", data=sme_form)).headers["location"].split("?")[0]
            take = (await client.get(f"{sme}/take")).text
            answers = {q: "3" for q in re.findall(r'name="(answers\.[a-z_]+-[0-9])" value="1"', take)}
            await client.post(f"{sme}/take", data={"csrf": csrf, "instrument_version": "2", **answers})
            sme_id = sme.rsplit("/", 1)[1]
            practices = await self_assessed(client, csrf, sme_id)
            for name, (path, calls) in pages(day.isoformat(), sme_id, practices).items():
                for _ in range(5):  # warm-up
                    await timed(client, path)
                page_s, api_s = [], []
                for _ in range(requests):  # interleaved: the page, then its API calls directly
                    page_s.append(await timed(client, path))
                    t = 0.0
                    for call in calls:
                        t += await timed(client, f"/api/v1{call}", bearer)
                    api_s.append(t)
                p95_page, p95_api = percentile(page_s, 95) * 1000, percentile(api_s, 95) * 1000
                out[name] = {
                    "requests": requests,
                    "p50_ms": round(percentile(page_s, 50) * 1000, 2),
                    "p95_ms": round(p95_page, 2),
                    "api_calls": len(calls),
                    "api_only_p50_ms": round(percentile(api_s, 50) * 1000, 2),
                    "api_only_p95_ms": round(p95_api, 2),
                    "p95_ratio_to_api_only": round(p95_page / p95_api, 2) if calls else None,
                }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=200, help="requests per page")
    a = p.parse_args(argv)
    result = asyncio.run(run(a.requests))
    print("web client render time per page (in-process, demo data):")
    for name, r in result.items():
        ratio = f"{r['p95_ratio_to_api_only']}x its API calls" if r["api_calls"] else "no API call"
        print(f"  {name:20} p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  ({ratio})")
    write_result("web", {"pages": result})
    return result


if __name__ == "__main__":
    main()
