"""The web client asks for the instruments in the page's language: the growth-needs assessment and the
practice self-assessment show their questions, anchors and scale labels in Turkish and in Spanish, and the
results, the chart and the plan name dimensions and practices in the page's language. Every expected text
is read here from the translation files (never from the pages' code); a bad answer is named at its
question on a translated form and nothing is written."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_pages import CSRF, SME_FORM, sign_in
from tests.conftest import asgi_client

ROOT = Path(__file__).resolve().parents[2] / "services"
MAPPING = ROOT / "mapping" / "data" / "instruments"
TRAINING = ROOT / "training" / "data" / "instruments"


def words(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def shown(text: str) -> str:
    """A text as the page writes it (Jinja2 escapes quotes and ampersands)."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


@pytest.fixture
def bare(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05)


@pytest.fixture
async def client(bare: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(bare)):
        yield c


async def speak(client: httpx.AsyncClient, csrf: str, lang: str) -> None:
    r = await client.post("/language", data={"csrf": csrf, "lang": lang, "next": "/"})
    assert r.status_code == 303


async def registered(client: httpx.AsyncClient, csrf: str, name: str) -> str:
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "legal_name": name})
    assert r.status_code == 303, r.text
    return str(r.headers["location"].split("?")[0])


def version_of(form: str) -> str:
    return re.search(r'name="instrument_version" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]


async def test_the_growth_needs_assessment_in_turkish_and_spanish(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    await speak(client, csrf, "tr")
    sme = await registered(client, csrf, "Ege Hassas Kalıp")
    form = (await client.get(f"{sme}/take")).text
    version = version_of(form)
    tr = words(MAPPING / f"v{version}.tr.json")
    assert '<html lang="tr">' in form
    assert f"<h2>{shown(tr['dimensions']['innovation']['name'])}</h2>" in form
    legend = tr["dimensions"]["innovation"]["questions"]["innovation-1"]["text"]
    assert f"<legend>{shown(legend)}</legend>" in form
    assert f"5 – {shown(tr['scale']['labels']['5'])}</label>" in form
    questions = re.findall(r'name="(answers\.[a-z_]+-[0-9])" value="1"', form)
    assert len(questions) == 24

    # a missing answer on the Turkish form: named at its (Turkish) question, nothing written
    answers = dict.fromkeys(questions, "4") | {"answers.talent-1": "1", "answers.talent-2": "1"}
    missing = {k: v for k, v in answers.items() if k != "answers.finance-3"}
    r = await client.post(f"{sme}/take", data={"csrf": csrf, "instrument_version": version, **missing})
    assert r.status_code == 422
    assert re.search(r'aria-describedby="answers-finance-3-error">\s*<legend>', r.text)
    assert 'id="answers-finance-3-error"' in r.text and r.text.count('class="field-error"') == 1
    assert shown(tr["dimensions"]["finance"]["questions"]["finance-3"]["text"]) in r.text
    nothing = (await client.get(sme)).text
    assert 'href="' + sme + '/take"' in nothing and "<table>" not in nothing  # no results, no history

    # the same SME in Spanish: the form, then the results, the needs and the chart name the dimensions so
    await speak(client, csrf, "es")
    es = words(MAPPING / f"v{version}.es.json")
    form = (await client.get(f"{sme}/take")).text
    assert (
        f"<legend>{shown(es['dimensions']['digitalisation']['questions']['digitalisation-3']['text'])}</legend>" in form
    )
    assert f"1 – {shown(es['scale']['labels']['1'])}</label>" in form
    r = await client.post(f"{sme}/take", data={"csrf": csrf, "instrument_version": version, **answers})
    assert r.status_code == 303
    page = (await client.get(r.headers["location"])).text
    # by hand: talent answered 1, 1, 4 (weights 1 in every version) -> 2.0, every other dimension 4.0;
    # needs: talent, then the first two dimensions in instrument order (innovation, digitalisation)
    talent = shown(es["dimensions"]["talent"]["name"])
    assert f'<th scope="row">{talent}</th><td>2,0</td>' in page
    assert f'<th scope="row">{shown(es["dimensions"]["finance"]["name"])}</th><td>4,0</td>' in page
    needs = [es["dimensions"][d]["name"] for d in ("talent", "innovation", "digitalisation")]
    assert "<ol>" + "".join(f"<li>{shown(n)}</li>" for n in needs) + "</ol>" in page
    chart = (await client.get(f"{sme}/chart.svg")).text
    assert shown(es["dimensions"]["rnd_facilities"]["name"]) in chart
    assert "R&amp;D and facilities access" not in chart
    assert ">2,0</text>" in chart and ">4,0</text>" in chart and ".0</text>" not in chart  # the decimal comma


async def known_to_training(client: httpx.AsyncClient, csrf: str, sme: str) -> None:
    """A growth-needs assessment makes the SME known to training (mapping's event)."""
    form = (await client.get(f"{sme}/take")).text
    questions = re.findall(r'name="(answers\.[a-z_]+-[0-9])" value="1"', form)
    data = {"csrf": csrf, "instrument_version": version_of(form), **dict.fromkeys(questions, "3")}
    assert (await client.post(f"{sme}/take", data=data)).status_code == 303


async def self_assess(client: httpx.AsyncClient, url: str, data: dict[str, str]) -> httpx.Response:
    for _ in range(100):
        r = await client.post(url, data=data)
        if r.status_code != 422 or "sme_id" not in r.text:
            return r
        await asyncio.sleep(0.05)  # mapping's SMEAssessed not consumed yet
    return r


async def test_the_practice_self_assessment_in_turkish_and_spanish(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    sme = await registered(client, csrf, "Anatolia Precision")
    await known_to_training(client, csrf, sme)
    sid = sme.rsplit("/", 1)[1]
    take = f"/training/practices/{sid}/take"

    await speak(client, csrf, "tr")
    form = (await client.get(take)).text
    version = version_of(form)
    tr = words(TRAINING / f"wms-v{version}.tr.json")
    operations = tr["areas"]["operations"]
    assert f'<h2 lang="tr">{shown(operations["name"])}</h2>' in form
    lean = operations["practices"]["lean_introduction"]
    assert f'<legend lang="tr">{shown(lean["name"])}</legend>' in form
    assert f'3 – <span lang="tr">{shown(lean["anchors"]["3"])}</span>' in form
    practices = re.findall(r'name="answers\.([a-z_]+)" value="1"', form)
    assert len(practices) == 18

    # a missing answer on the Turkish form: named at its question, nothing written
    answers = dict.fromkeys(practices, "4") | {"lean_introduction": "1", "lean_rationale": "2"}
    answers |= {"process_problem_documentation": "3"}
    data = {"csrf": csrf, "instrument_version": version, **{f"answers.{k}": v for k, v in answers.items()}}
    r = await self_assess(client, take, {k: v for k, v in data.items() if k != "answers.time_horizon"})
    assert r.status_code == 422
    assert re.search(r'aria-describedby="answers-time_horizon-error">\s*<legend lang="tr">', r.text)
    assert r.text.count('class="field-error"') == 1
    overview = (await client.get("/training/practices")).text
    assert "/training/practices/assessments/" not in overview  # no self-assessment was saved

    await speak(client, csrf, "es")
    es = words(TRAINING / f"wms-v{version}.es.json")
    form = (await client.get(take)).text
    people = es["areas"]["people"]["practices"]
    assert f'<legend lang="es">{shown(people["retaining_talent"]["name"])}</legend>' in form
    assert f'5 – <span lang="es">{shown(people["retaining_talent"]["anchors"]["5"])}</span>' in form
    r = await self_assess(client, take, data)
    assert r.status_code == 303, r.text
    result = r.headers["location"]
    page = (await client.get(result)).text
    # by hand: operations 1, 2, 3 -> 2,00; lean introduction 1,0; performance tracking 4,0
    ops = shown(es["areas"]["operations"]["name"])
    assert f'<th scope="row" lang="es"><strong>{ops}</strong></th><td><strong>2,00</strong></td>' in page
    lean_es = shown(es["areas"]["operations"]["practices"]["lean_introduction"]["name"])
    assert f'<th scope="row" lang="es">{lean_es}</th><td>1,0</td>' in page
    tracking = shown(es["areas"]["monitoring"]["practices"]["performance_tracking"]["name"])
    assert f'<th scope="row" lang="es">{tracking}</th><td>4,0</td>' in page
    aid = result.split("?")[0].rsplit("/", 1)[1]
    chart = (await client.get(f"/training/practices/assessments/{aid}/chart.svg")).text
    assert tracking in chart and "Performance tracking" not in chart
    assert ">1,0</text>" in chart and ">4,0</text>" in chart and ".0</text>" not in chart

    made = await client.post(f"/training/practices/assessments/{aid}/plan", data={"csrf": csrf})
    assert made.status_code == 303
    plan = (await client.get(made.headers["location"].split("?")[0])).text
    # the weakest practice first, its target one step up (1 -> 2), named in Spanish
    assert f'<th scope="row" lang="es">{lean_es}</th><td>1,0</td><td>2,0</td>' in plan
    assert f'<option value="retaining_talent" lang="es">{shown(people["retaining_talent"]["name"])}</option>' in plan
    assert CSRF.search(plan)
