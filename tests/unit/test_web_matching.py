"""The allocation's reasons, as a round's explanation gives them, in the person's language: each reason
the allocation library writes (made here by the library itself, so a change of its wording fails this
test) is recognised and translated with its number; an unknown reason stays in the API's words."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from allocation.instance import parse
from allocation.report import explain_all
from allocation.stable import stable
from web.app import Page
from web.pages.matching import reason_words, words_list


def page_in(lang: str) -> Page:
    """A page in ``lang`` as far as its words go (the page's own translation methods)."""
    stub = SimpleNamespace(lang=lang)
    stub._ = lambda text: Page._(cast(Page, stub), text)
    stub.ngettext = lambda one, many, n: Page.ngettext(cast(Page, stub), one, many, n)
    return cast(Page, stub)


def reasons() -> list[str]:
    """Two students want p1 (one place) then p2; the supervisor prefers s2: s1 gets p2, p1 being full."""
    data: dict[str, Any] = {
        "students": [{"id": "s1", "preferences": ["p1", "p2"]}, {"id": "s2", "preferences": ["p1", "p2"]}],
        "projects": [{"id": "p1", "capacity": 1, "supervisor": "a"}, {"id": "p2", "capacity": 1, "supervisor": "b"}],
        "supervisors": [
            {"id": "a", "capacity": 1, "preferences": ["s2", "s1"]},
            {"id": "b", "capacity": 1, "preferences": ["s1", "s2"]},
        ],
    }
    inst = parse(data)
    explained = explain_all(inst, stable(inst))
    return [w["reason"] for e in explained for w in e["why_not"]]


def test_a_full_challenge_is_said_in_spanish_with_its_number() -> None:
    [reason] = reasons()  # s1's why-not for p1
    assert reason == "project full: its supervisor ranks all 1 students on it above you"
    assert reason_words(page_in("es"), reason) == (
        "el reto está completo (1 plaza): su anfitrión prefiere a quien la ocupa antes que a usted",
        True,
    )
    assert reason_words(page_in("en"), reason.replace("all 1", "all 2")) == (
        "the challenge is full (2 places): its host ranks everyone in them above you",
        True,
    )
    assert reason_words(page_in("fr"), "supervisor full: they rank all 0 of their students above you") == (
        "l'accueillant est complet (0 place) : il classe la personne qu'il a déjà avant vous",  # French: 0 is one
        True,
    )


def test_where_the_list_came_from_and_an_unknown_reason() -> None:
    assert reason_words(page_in("tr"), "your ranking") == ("sizin sıralamanız", True)
    assert reason_words(page_in("es"), "your ranking", own=False) == ("la clasificación propia del candidato", True)
    assert reason_words(page_in("fr"), "no eligible challenge (programme, language, dates or region)")[1]
    assert reason_words(page_in("it"), "something new") == ("something new", False)


def test_a_typed_list_is_trimmed_and_each_entry_kept_once() -> None:
    assert words_list(" data analysis, CAD,, cad ,CAD ") == ["data analysis", "CAD", "cad"]
    assert words_list("") == []
