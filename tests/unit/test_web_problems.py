"""A refusal in the person's words: the validator's code and limits worded in each language (the
expected sentences are written out here from the catalogues' intent, not taken from the code), numbers
in the language's own format, bounds that are not numbers left to the API, and a rule's English reason
marked as English on a page in another language (WCAG 3.1.2), escaped."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from web.platform import Problem
from web.problems import localise, reason


@pytest.mark.parametrize(
    ("code", "limits", "lang", "expected"),
    [
        ("string_too_long", {"max_length": 300}, "es", "Escriba como máximo 300 caracteres."),
        ("string_too_long", {"max_length": 1}, "es", "Escriba como máximo 1 carácter."),  # CLDR "one"
        ("string_too_short", {"min_length": 2}, "fr", "Saisissez au moins 2 caractères."),
        ("string_too_short", {"min_length": 1}, "fr", "Saisissez au moins 1 caractère."),
        ("less_than_equal", {"le": 1_000_000}, "tr", "En fazla 1.000.000 olan bir sayı girin."),
        ("less_than_equal", {"le": 1_000_000}, "en", "Enter a number of at most 1,000,000."),
        ("greater_than_equal", {"ge": 10_000}, "es", "Introduzca un número igual o mayor que 10.000."),
        ("greater_than", {"gt": 0.5}, "it", "Inserisca un numero maggiore di 0,5."),
        ("too_long", {"max_length": 20}, "it", "Indichi al massimo 20 voci."),
        ("missing", {}, "tr", "Bu alan zorunludur."),
        ("literal_error", {"expected": "'a' or 'b'"}, "fr", "Choisissez l’une des options proposées."),
        ("int_parsing", {}, "es", "Introduzca un número entero."),
    ],
)
def test_a_code_in_words(code: str, limits: dict[str, object], lang: str, expected: str) -> None:
    assert reason(code, limits, lang) == expected


def test_what_is_not_worded_here_is_left_to_the_api() -> None:
    assert reason("greater_than_equal", {"ge": "2026-01-01"}, "es") is None  # a date's bound
    assert reason("value_error", {}, "tr") is None  # a validator's own sentence
    assert reason("", {}, "it") is None


def test_a_problem_in_french() -> None:
    p = Problem(
        422,
        fields={"legal_name": "String should have at most 300 characters", "start": "more than 4 days <ahead>"},
        codes={"legal_name": ("string_too_long", {"max_length": 300}), "start": ("", {})},
    )
    localise(p, "fr")
    assert p.fields["legal_name"] == "Saisissez au plus 300 caractères."
    assert p.fields["start"] == Markup('<span lang="en">more than 4 days &lt;ahead&gt;</span>')


def test_on_an_english_page_a_rules_reason_stays_as_it_is() -> None:
    p = Problem(422, fields={"start": "more than 4 days ahead"}, codes={"start": ("", {})})
    assert localise(p, "en").fields["start"] == "more than 4 days ahead"
    assert not isinstance(p.fields["start"], Markup)
