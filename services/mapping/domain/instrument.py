"""The growth-needs instrument: versioned data files, validation of answers, scoring.

A version's file never changes once published; scores are computed once at submission and stored,
so a new version can never change the scores of submissions made under an old one.

Each version is in English (``v{n}.json``) with a translation per language next to it
(``v{n}.{lang}.json``): every person-facing text of that version by its ids, nothing else. All of a
version's languages are read and checked once per process, with the version; ids, weights and scoring
are the English file's, whatever the language.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from clustergrowth import translations
from clustergrowth.problems import Unprocessable
from services.mapping.domain.codes import DATA

INSTRUMENTS = DATA / "instruments"
LANGUAGES = ("en", "es", "it", "fr", "tr")  # en is the instrument file itself
FILE = re.compile(r"^v(\d+)\.json$")


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    weight: float


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Instrument:
    """One version of the questionnaire."""

    version: str
    title: str
    scale_min: int
    scale_max: int
    top_needs: int
    dimensions: tuple[Dimension, ...]
    raw: dict[str, object]
    texts: dict[str, dict[str, Any]]  # the whole version in each language, with its ``lang``

    def served(self, lang: str = "en") -> dict[str, Any]:
        """The version as a person reads it in ``lang`` (one of LANGUAGES): ids, weights and scale as in
        English, the texts in that language, and ``lang`` saying which."""
        return self.texts[lang]

    @property
    def question_ids(self) -> list[str]:
        return [q.id for d in self.dimensions for q in d.questions]

    def validate(self, answers: dict[str, int]) -> None:
        """422 naming every missing, unknown or out-of-range answer; nothing is stored."""
        errors = []
        known = set(self.question_ids)
        for qid in self.question_ids:
            if qid not in answers:
                errors.append({"field": f"answers.{qid}", "reason": "missing answer"})
        for qid, value in answers.items():
            if qid not in known:
                errors.append({"field": f"answers.{qid}", "reason": f"no such question in version {self.version}"})
            elif isinstance(value, bool) or not isinstance(value, int):
                errors.append({"field": f"answers.{qid}", "reason": "must be a whole number"})
            elif not self.scale_min <= value <= self.scale_max:
                errors.append(
                    {
                        "field": f"answers.{qid}",
                        "reason": f"must be {self.scale_min}..{self.scale_max}, got {value}",
                    }
                )
        if errors:
            raise Unprocessable(f"{len(errors)} answer(s) do not fit instrument version {self.version}", errors)

    def score(self, answers: dict[str, int]) -> tuple[dict[str, float], list[str]]:
        """Maturity 1-5 per dimension, and the top needs (lowest maturity first, ties by order)."""
        self.validate(answers)
        scores: dict[str, float] = {}
        for d in self.dimensions:
            total = sum(q.weight for q in d.questions)
            scores[d.id] = round(sum(answers[q.id] * q.weight for q in d.questions) / total, 2)
        order = {d.id: i for i, d in enumerate(self.dimensions)}
        ranked = sorted(scores, key=lambda k: (scores[k], order[k]))
        return scores, ranked[: self.top_needs]


def translated(raw: dict[str, Any], lang: str) -> dict[str, Any]:
    """The version ``raw`` in ``lang``, from its translation file (checked whole: see ``overlay``)."""
    path = INSTRUMENTS / f"v{raw['version']}.{lang}.json"
    return translations.translated(raw, path, {"lang": lang, "version": raw["version"]})


def _load(version: str) -> Instrument:
    raw = json.loads((INSTRUMENTS / f"v{version}.json").read_text())
    dims = tuple(
        Dimension(
            d["id"],
            d["name"],
            tuple(Question(q["id"], q["text"], float(q["weight"])) for q in d["questions"]),
        )
        for d in raw["dimensions"]
    )
    return Instrument(
        version=str(raw["version"]),
        title=raw["title"],
        scale_min=raw["scale"]["min"],
        scale_max=raw["scale"]["max"],
        top_needs=raw["scoring"]["top_needs"],
        dimensions=dims,
        raw=raw,
        texts={"en": {**raw, "lang": "en"}} | {lang: translated(raw, lang) for lang in LANGUAGES[1:]},
    )


@cache
def versions() -> tuple[str, ...]:
    found = (FILE.match(p.name) for p in INSTRUMENTS.glob("v*.json"))
    return tuple(sorted((m.group(1) for m in found if m), key=int))


@cache
def instrument(version: str) -> Instrument:
    if version not in versions():
        raise Unprocessable(
            f"no instrument version {version!r}",
            [{"field": "instrument_version", "reason": f"unknown; known versions: {', '.join(versions())}"}],
        )
    return _load(version)


def latest() -> Instrument:
    return instrument(versions()[-1])
