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

from clustergrowth.problems import Unprocessable
from services.mapping.domain.codes import DATA

INSTRUMENTS = DATA / "instruments"
LANGUAGES = ("en", "es", "it", "fr", "tr")  # en is the instrument file itself
NOT_TEXT = frozenset({"id", "version", "method", "kind", "lang"})  # keys and rules: never translated
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


def has_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return any(has_text(v) for v in value)
    if isinstance(value, dict):
        return any(k not in NOT_TEXT and has_text(v) for k, v in value.items())
    return False


def overlay(base: Any, words: Any, at: str) -> Any:
    """``base`` with its person-facing texts replaced by ``words``, which must hold exactly those texts: a
    text as a non-empty text, a list of texts as a list of the same length, a list of objects with ids as
    an object by those ids, an object by the keys that hold text (keys and rules, NOT_TEXT, stay out).
    ValueError naming the place of anything missing, unknown or empty."""
    if isinstance(base, str):
        if not isinstance(words, str) or not words.strip():
            raise ValueError(f"{at}: needs a text")
        return words
    if isinstance(base, list) and all(isinstance(b, str) for b in base):
        if not isinstance(words, list) or len(words) != len(base):
            raise ValueError(f"{at}: needs a list of {len(base)} texts")
        return [overlay(b, w, f"{at}[{i}]") for i, (b, w) in enumerate(zip(base, words, strict=True))]
    if isinstance(base, list):
        ids = [b["id"] for b in base]
        if not isinstance(words, dict) or set(words) != set(ids):
            got = set(words) if isinstance(words, dict) else set()
            raise ValueError(f"{at}: missing {sorted(set(ids) - got)}, unknown {sorted(got - set(ids))}")
        return [overlay(b, words[b["id"]], f"{at}.{b['id']}") for b in base]
    if isinstance(base, dict):
        keys = {k for k, v in base.items() if k not in NOT_TEXT and has_text(v)}
        if not isinstance(words, dict) or set(words) != keys:
            got = set(words) if isinstance(words, dict) else set()
            raise ValueError(f"{at}: missing {sorted(keys - got)}, unknown {sorted(got - keys)}")
        return {k: overlay(v, words[k], f"{at}.{k}") if k in keys else v for k, v in base.items()}
    raise ValueError(f"{at}: holds no text")


def translated(raw: dict[str, Any], lang: str) -> dict[str, Any]:
    """The version ``raw`` in ``lang``, from its translation file (checked whole: see ``overlay``)."""
    name = f"v{raw['version']}.{lang}.json"
    words = json.loads((INSTRUMENTS / name).read_text())
    if (words.pop("lang", None), words.pop("version", None)) != (lang, raw["version"]):
        raise ValueError(f"{name}: must say lang {lang!r} and version {raw['version']!r}")
    return {**overlay(raw, words, name), "lang": lang}


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
