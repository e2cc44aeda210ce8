"""Training pages wholly in the page's language: the coordinator's module form names the practices as the
translated instrument does (with the lang the API says), and the growth action plan and the re-assessment's
comparison name each practice by its id from the translated instrument (the plan stores its English name,
which stays as stored). Every expected text is read here from the translation files
``services/training/data/instruments/wms-v*.{tr,es}.json``, never from the pages' code; numbers are worked
by hand. A bad input on a translated form is named at its field and nothing is written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_instrument_languages import (
    TRAINING,
    known_to_training,
    registered,
    self_assess,
    shown,
    speak,
    version_of,
    words,
)
from tests.component.test_web_pages import sign_in
from tests.conftest import asgi_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05)


@pytest.fixture
async def client(bare: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(bare)):
        yield c


def error_at(page: str, field_id: str) -> bool:
    return f'id="{field_id}-error"' in page


async def test_the_module_form_names_the_practices_in_turkish_and_spanish(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client, "demo-admin")
    for lang in ("tr", "es"):
        await speak(client, csrf, lang)
        form = (await client.get("/training/coordinate/new")).text
        doc = words(TRAINING / f"wms-v1.{lang}.json")  # the only version, so the latest
        for area in doc["areas"].values():
            for pid, practice in area["practices"].items():
                label = f'<label for="practice-{pid}" lang="{lang}">{shown(practice["name"])}</label>'
                assert label in form, (lang, pid)
        practices = form.split("<legend>", 2)[1].split("</fieldset>")[0]
        assert practices.count(f'lang="{lang}">') == 18 and 'lang="en"' not in practices  # none marked English
    # a bad input on the Spanish form (no practice, no title): at its fields, the practices still in Spanish
    r = await client.post(
        "/training/coordinate/new",
        data={"csrf": csrf, "title": " ", "language": "es", "format": "online", "rows": "4"},
    )
    assert r.status_code == 422
    assert error_at(r.text, "practices") and error_at(r.text, "title")
    es = words(TRAINING / "wms-v1.es.json")
    lean = es["areas"]["operations"]["practices"]["lean_introduction"]["name"]
    assert f'<label for="practice-lean_introduction" lang="es">{shown(lean)}</label>' in r.text
    listed = (await client.get("/training/coordinate")).text
    assert "/training/coordinate/modules/" not in listed  # nothing was written


async def test_the_plan_in_turkish_and_the_comparison_in_spanish(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    sme = await registered(client, csrf, "Bosphorus Valves")
    await known_to_training(client, csrf, sme)
    take = f"/training/practices/{sme.rsplit('/', 1)[1]}/take"

    await speak(client, csrf, "tr")
    form = (await client.get(take)).text
    version = version_of(form)
    tr = words(TRAINING / f"wms-v{version}.tr.json")
    practices = re.findall(r'name="answers\.([a-z_]+)" value="1"', form)
    answers = dict.fromkeys(practices, "4") | {"lean_introduction": "1"}
    data = {"csrf": csrf, "instrument_version": version, **{f"answers.{k}": v for k, v in answers.items()}}
    r = await self_assess(client, take, data)
    assert r.status_code == 303, r.text
    baseline = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    made = await client.post(f"/training/practices/assessments/{baseline}/plan", data={"csrf": csrf})
    assert made.status_code == 303
    plan_url = made.headers["location"].split("?")[0]
    plan = (await client.get(plan_url)).text
    assert '<html lang="tr">' in plan
    lean_tr = shown(tr["areas"]["operations"]["practices"]["lean_introduction"]["name"])
    # by hand: lean introduction answered 1, the weakest; its target one step up; 1,0 and 2,0 in Turkish
    assert f'<th scope="row" lang="tr">{lean_tr}</th><td>1,0</td><td>2,0</td>' in plan
    assert "Lean introduction" not in plan  # the stored English name is not shown
    talent = tr["areas"]["people"]["practices"]["retaining_talent"]["name"]
    assert f'<option value="retaining_talent" lang="tr">{shown(talent)}</option>' in plan

    # a bad target on the Turkish plan form: at its field, the plan unchanged
    etag = re.search(r'name="etag" value="([^"]*)"', plan).group(1)  # type: ignore[union-attr]
    bad = {"csrf": csrf, "etag": etag, "focus_areas.0.practice": "lean_introduction", "focus_areas.0.target": "iki"}
    r = await client.post(plan_url, data=bad)
    assert r.status_code == 422 and error_at(r.text, "focus_areas-0-target")
    assert f'<th scope="row" lang="tr">{lean_tr}</th><td>1,0</td><td>2,0</td>' in (await client.get(plan_url)).text

    # the re-assessment in Spanish: lean introduction now 2, against the baseline's 1 and the plan's 2
    await speak(client, csrf, "es")
    es = words(TRAINING / f"wms-v{version}.es.json")
    again = data | {"answers.lean_introduction": "2", "previous": baseline}
    r = await self_assess(client, take, again)
    assert r.status_code == 303, r.text
    page = (await client.get(r.headers["location"])).text
    lean_es = shown(es["areas"]["operations"]["practices"]["lean_introduction"]["name"])
    assert f'<th scope="row" lang="es">{lean_es}</th><td>1,0</td><td>2,0</td><td>+1,0</td><td>2,0: ' in page
    tracking = shown(es["areas"]["monitoring"]["practices"]["performance_tracking"]["name"])
    assert f'<th scope="row" lang="es">{tracking}</th><td>4,0</td><td>4,0</td><td>0,0</td><td>–</td>' in page
    assert "Lean introduction" not in page and "Performance tracking" not in page
    aid = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert f'src="/training/practices/assessments/{aid}/comparison.svg"' in page
    chart = (await client.get(f"/training/practices/assessments/{aid}/comparison.svg")).text
    assert lean_es in chart and tracking in chart and "Lean introduction" not in chart
    legend = [catalogue_word("es", w) for w in ("Baseline", "Now", "Target")]
    assert all(f">{shown(w)}</text>" in chart for w in legend) and ">Baseline</text>" not in chart
    # by hand: lean introduction 1 -> 2 with the target 2, the 17 others 4 at baseline and now, no target;
    # each value once a bar, plus once on the 1-5 axis
    counts = [chart.count(f">{v},0</text>") for v in (1, 2, 3, 4)]
    assert counts == [1 + 1, 2 + 1, 0 + 1, 17 * 2 + 1] and ".0</text>" not in chart


def catalogue_word(lang: str, english: str) -> str:
    """A word as the language's catalogue translates it (read from the .po file, not through the pages)."""
    with (ROOT / "web" / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        word = str(read_po(f)[english].string)
    return word
