"""Management-practice instruments: versioned data files, validation of answers, scoring.

Two models: ``wms`` (18 practices in four areas, each answered 1-5 against anchors at 1, 3 and 5) and
``mops`` (16 questions, each answered by choosing an option; scored 0-1 by its place in the options).
A version's file never changes once published; scores are computed once at submission and stored with
the version, so a new version can never change old results.

Each version is in English (``{kind}-v{n}.json``) with a translation per language next to it
(``{kind}-v{n}.{lang}.json``): every person-facing text of that version by its ids (option labels as a
list in the same order), nothing else. All of a version's languages are read and checked once per
process, with the version; ids, options and scoring are the English file's, whatever the language.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from clustergrowth import translations
from clustergrowth.problems import Unprocessable

DATA = Path(__file__).resolve().parents[1] / "data"
INSTRUMENTS = DATA / "instruments"
KINDS = ("wms", "mops")
DIGITS = 2  # scores are stored rounded to this many decimals
LANGUAGES = ("en", "es", "it", "fr", "tr")  # en is the instrument file itself


@dataclass(frozen=True)
class Practice:
    id: str
    name: str
    area: str
    options: int  # 0 for a scored practice (wms), else the number of options (mops)


@dataclass(frozen=True)
class Instrument:
    """One version of one instrument."""

    id: str
    version: str
    title: str
    scale_min: float
    scale_max: float
    goal_step: float
    practices: tuple[Practice, ...]
    areas: tuple[str, ...]
    raw: dict[str, Any]
    texts: dict[str, dict[str, Any]]  # the whole version in each language, with its ``lang``

    def served(self, lang: str = "en") -> dict[str, Any]:
        """The version as a person reads it in ``lang`` (one of LANGUAGES): ids, options' order and scale as
        in English, the texts in that language, and ``lang`` saying which."""
        return self.texts[lang]

    @property
    def practice_ids(self) -> list[str]:
        return [p.id for p in self.practices]

    def practice(self, pid: str) -> Practice:
        return next(p for p in self.practices if p.id == pid)

    def validate(self, answers: dict[str, Any]) -> None:
        """422 naming every missing, unknown, non-whole or out-of-range answer at once; nothing is stored."""
        errors = []
        known = {p.id: p for p in self.practices}
        for p in self.practices:
            if p.id not in answers:
                errors.append({"field": f"answers.{p.id}", "reason": "missing answer"})
        for qid, value in answers.items():
            q = known.get(qid)
            if q is None:
                errors.append({"field": f"answers.{qid}", "reason": f"no such question in {self.id} v{self.version}"})
            elif isinstance(value, bool) or not isinstance(value, int):
                errors.append({"field": f"answers.{qid}", "reason": "must be a whole number"})
            elif q.options and not 0 <= value < q.options:
                errors.append({"field": f"answers.{qid}", "reason": f"must be an option index 0..{q.options - 1}"})
            elif not q.options and not self.scale_min <= value <= self.scale_max:
                reason = f"must be {self.scale_min:g}..{self.scale_max:g}, got {value}"
                errors.append({"field": f"answers.{qid}", "reason": reason})
        if errors:
            raise Unprocessable(f"{len(errors)} answer(s) do not fit {self.id} version {self.version}", errors)

    def score(self, answers: dict[str, Any]) -> tuple[dict[str, float], dict[str, float], float]:
        """Scores per practice, per area and overall, on the instrument's scale (validated first)."""
        self.validate(answers)
        raw = {p.id: (answers[p.id] / (p.options - 1) if p.options else float(answers[p.id])) for p in self.practices}
        areas = {a: _mean([raw[p.id] for p in self.practices if p.area == a]) for a in self.areas}
        overall = _mean(list(raw.values()))
        return {k: round(v, DIGITS) for k, v in raw.items()}, areas, overall

    def normalised(self, score: float) -> float:
        """A score as a share of the scale (0 at the minimum, 1 at the maximum)."""
        return (score - self.scale_min) / (self.scale_max - self.scale_min)


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), DIGITS)


def translated(raw: dict[str, Any], lang: str) -> dict[str, Any]:
    """The version ``raw`` in ``lang``, from its translation file (checked whole: see ``overlay``)."""
    path = INSTRUMENTS / f"{raw['id']}-v{raw['version']}.{lang}.json"
    return translations.translated(raw, path, {"lang": lang, "id": raw["id"], "version": raw["version"]})


def _load(kind: str, version: str) -> Instrument:
    raw = json.loads((INSTRUMENTS / f"{kind}-v{version}.json").read_text())
    practices = tuple(
        Practice(p["id"], p["name"], a["id"], len(p.get("options", []))) for a in raw["areas"] for p in a["practices"]
    )
    return Instrument(
        id=raw["id"],
        version=str(raw["version"]),
        title=raw["title"],
        scale_min=float(raw["scale"]["min"]),
        scale_max=float(raw["scale"]["max"]),
        goal_step=float(raw["scoring"]["goal_step"]),
        practices=practices,
        areas=tuple(a["id"] for a in raw["areas"]),
        raw=raw,
        texts={"en": {**raw, "lang": "en"}} | {lang: translated(raw, lang) for lang in LANGUAGES[1:]},
    )


@cache
def versions(kind: str) -> tuple[str, ...]:
    file = re.compile(rf"^{re.escape(kind)}-v(\d+)\.json$")
    found = (file.match(p.name) for p in INSTRUMENTS.glob(f"{kind}-v*.json"))
    return tuple(sorted((m.group(1) for m in found if m), key=int))


@cache
def instrument(kind: str, version: str) -> Instrument:
    if kind not in KINDS:
        raise Unprocessable(
            f"no instrument {kind!r}", [{"field": "instrument", "reason": f"unknown; known: {', '.join(KINDS)}"}]
        )
    if version not in versions(kind):
        reason = f"unknown; known versions of {kind}: {', '.join(versions(kind))}"
        raise Unprocessable(f"no version {version!r} of {kind}", [{"field": "instrument_version", "reason": reason}])
    return _load(kind, version)


def latest(kind: str) -> Instrument:
    return instrument(kind, versions(kind)[-1])
