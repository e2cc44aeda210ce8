"""The instruments' translations: for every version of the growth-needs instrument (mapping) and of the
practice instruments (training) a file per language holds every person-facing text of that version by its
ids, and nothing else. The oracle is each English file's own structure, walked here by hand (which fields a
person reads is written out below, not taken from the loader); the loader must refuse a translation that
misses a text, names an id its version lacks, or leaves a text empty."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from clustergrowth import translations
from services.mapping.domain import instrument as mapping
from services.training.domain import instrument as training

ROOT = Path(__file__).resolve().parents[2] / "services"
MAPPING = ROOT / "mapping" / "data" / "instruments"
TRAINING = ROOT / "training" / "data" / "instruments"
LANGS = ("es", "it", "fr", "tr")
Texts = dict[tuple[str, ...], str]


def english(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def growth_texts(doc: dict[str, Any]) -> Texts:
    """What a person reads in a growth-needs version: its title, the scale's labels, how it is scored, each
    dimension's name and each question's text."""
    out: Texts = {("title",): doc["title"], ("scoring", "description"): doc["scoring"]["description"]}
    out |= {("scale", "labels", k): v for k, v in doc["scale"]["labels"].items()}
    for d in doc["dimensions"]:
        out[("dimensions", d["id"], "name")] = d["name"]
        out |= {("dimensions", d["id"], "questions", q["id"], "text"): q["text"] for q in d["questions"]}
    return out


def practice_texts(doc: dict[str, Any]) -> Texts:
    """What a person reads in a practice instrument: title, source, how to answer and how it is scored, each
    area's name, each practice's name (a question for mops) with its anchors (wms) or options (mops)."""
    out: Texts = {("title",): doc["title"], ("source",): doc["source"]}
    out |= {("answer", "description"): doc["answer"]["description"]}
    out |= {("scoring", "description"): doc["scoring"]["description"]}
    for a in doc["areas"]:
        out[("areas", a["id"], "name")] = a["name"]
        for p in a["practices"]:
            at = ("areas", a["id"], "practices", p["id"])
            out[(*at, "name")] = p["name"]
            out |= {(*at, "anchors", k): v for k, v in p.get("anchors", {}).items()}
            out |= {(*at, "options", str(i)): v for i, v in enumerate(p.get("options", []))}
    return out


def leaves(value: Any, at: tuple[str, ...] = ()) -> Texts:
    """Every text of a translation file by its path (lists by position)."""
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in leaves(sub, (*at, key)).items()}
    if isinstance(value, list):
        return {k: v for i, sub in enumerate(value) for k, v in leaves(sub, (*at, str(i))).items()}
    return {at: value}


def cases() -> list[tuple[Path, Path, str]]:
    out = []
    for path in sorted(MAPPING.glob("v*.json")):
        if re.fullmatch(r"v\d+\.json", path.name):
            out += [(path, MAPPING / f"{path.stem}.{lang}.json", lang) for lang in LANGS]
    for path in sorted(TRAINING.glob("*-v*.json")):
        if re.fullmatch(r"[a-z]+-v\d+\.json", path.name):
            out += [(path, TRAINING / f"{path.stem}.{lang}.json", lang) for lang in LANGS]
    return out


def test_every_version_of_every_instrument_has_a_file_per_language() -> None:
    got = cases()
    # the versions on disk today, counted by hand: mapping v1, v2; training wms-v1, mops-v1; four languages each
    assert len(got) == 4 * 4
    missing = [t.name for _, t, _ in got if not t.exists()]
    assert missing == []
    named = {t for _, t, _ in got}
    strays = [p.name for p in [*MAPPING.glob("*.*.json"), *TRAINING.glob("*.*.json")] if p not in named]
    assert strays == [], "a translation of a version or language that does not exist"


@pytest.mark.parametrize(("source", "translation", "lang"), cases(), ids=lambda v: getattr(v, "name", v))
def test_a_translation_holds_exactly_its_versions_texts_none_empty(source: Path, translation: Path, lang: str) -> None:
    doc = english(source)
    words = json.loads(translation.read_text())
    said = {k: words.pop(k) for k in ("lang", "id", "version") if k in words}
    assert said == {"lang": lang, "version": doc["version"]} | ({"id": doc["id"]} if "id" in doc else {})
    expected = growth_texts(doc) if source.parent == MAPPING else practice_texts(doc)
    got = leaves(words)
    assert sorted(set(expected) - set(got)) == [], "texts of the version missing from the translation"
    assert sorted(set(got) - set(expected)) == [], "ids or fields the version does not have"
    assert [k for k, v in got.items() if not isinstance(v, str) or not v.strip()] == []
    # a sentence left in English is no translation (short labels such as "1-2" or "R&D" may stay as they are)
    untranslated = [k for k, v in expected.items() if len(v.split()) > 3 and got[k] == v]
    assert untranslated == []


def test_turkish_capitals_keep_the_dot_on_i() -> None:
    """Turkish has a dotted and a dotless i in both cases: a capital I (dotless) opening a lower-case word, as
    in Izleme for the dotted İzleme, is a casing slip."""
    slips = {}
    for path in [*MAPPING.glob("*.tr.json"), *TRAINING.glob("*.tr.json")]:
        for at, text in leaves(json.loads(path.read_text())).items():
            if re.search(r"\bI[a-zçğıöşü]", text):
                slips[(path.name, *at)] = text
    assert slips == {}
    served = training.instrument("mops", "1").served("tr")
    assert served["areas"][0]["name"] == "İzleme"  # Monitoring, from the translation file, read by hand


def test_the_loader_serves_each_language_with_the_english_ids_weights_and_scale() -> None:
    g1 = english(MAPPING / "v2.json")
    for lang in ("en", *LANGS):
        served = mapping.instrument("2").served(lang)
        assert served["lang"] == lang and served["version"] == "2"
        assert [(d["id"], [(q["id"], q["weight"]) for q in d["questions"]]) for d in served["dimensions"]] == [
            (d["id"], [(q["id"], q["weight"]) for q in d["questions"]]) for d in g1["dimensions"]
        ]
        assert (served["scale"]["min"], served["scale"]["max"], served["scoring"]["top_needs"]) == (1, 5, 3)
    es = json.loads((MAPPING / "v2.es.json").read_text())
    assert (
        mapping.instrument("2").served("es")["dimensions"][4]["questions"][0]["text"]
        == (es["dimensions"]["finance"]["questions"]["finance-1"]["text"])
    )
    mops = english(TRAINING / "mops-v1.json")
    fr = json.loads((TRAINING / "mops-v1.fr.json").read_text())
    served = training.instrument("mops", "1").served("fr")
    assert [len(p["options"]) for a in served["areas"] for p in a["practices"]] == [
        len(p["options"]) for a in mops["areas"] for p in a["practices"]
    ]
    assert served["areas"][2]["practices"][1]["options"] == fr["areas"]["incentives"]["practices"]["mops11"]["options"]
    assert training.instrument("mops", "1").served("en") == {**mops, "lang": "en"}


def spoil(words: dict[str, Any], how: str) -> dict[str, Any]:
    bad = copy.deepcopy(words)
    questions = bad["dimensions"]["talent"]["questions"]
    if how == "missing":
        del questions["talent-2"]
    elif how == "unknown":
        questions["talent-4"] = {"text": "Una pregunta que la versión no tiene"}
    elif how == "empty":
        questions["talent-2"]["text"] = "  "
    elif how == "rule":
        bad["scoring"]["method"] = "media"
    return bad


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("missing", "talent-2"),
        ("unknown", "talent-4"),
        ("empty", "dimensions.talent.questions.talent-2.text"),
        ("rule", "method"),
    ],
)
def test_the_loader_refuses_a_translation_with_a_gap_an_unknown_id_an_empty_text_or_a_rule(
    how: str, named: str
) -> None:
    raw = english(MAPPING / "v1.json")
    words = json.loads((MAPPING / "v1.es.json").read_text())
    del words["lang"], words["version"]
    merged = translations.overlay(raw, words, "v1.es.json")
    assert merged["dimensions"][3]["name"] == words["dimensions"]["talent"]["name"]
    with pytest.raises(ValueError, match=re.escape(named)):
        translations.overlay(raw, spoil(words, how), "v1.es.json")


def test_the_practice_loader_refuses_options_of_another_length() -> None:
    raw = english(TRAINING / "mops-v1.json")
    words = json.loads((TRAINING / "mops-v1.tr.json").read_text())
    for key in ("lang", "id", "version"):
        del words[key]
    words["areas"]["targets"]["practices"]["mops07"]["options"].pop()  # 6 options in the version, 5 here
    with pytest.raises(ValueError, match=r"mops07\.options: needs a list of 6 texts"):
        translations.overlay(raw, words, "mops-v1.tr.json")
