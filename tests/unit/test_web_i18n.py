"""Languages of the web client: the page's language, plurals by CLDR, dates and numbers by locale,
Turkish casing. Expected values are written by hand from the languages' rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from web.i18n import Formats, lower, pick, translations, upper


def test_turkish_casing_keeps_the_dot() -> None:
    assert upper("istanbul", "tr") == "İSTANBUL"
    assert upper("ılık", "tr") == "ILIK"
    assert upper("istanbul", "en") == "ISTANBUL"
    assert lower("ISPARTA", "tr") == "ısparta"
    assert lower("İZMİR", "tr") == "izmir"
    assert lower("ISPARTA", "en") == "isparta"


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [
        ("en", 0, "0 bookings"),
        ("en", 1, "1 booking"),
        ("en", 2, "2 bookings"),
        ("fr", 0, "0 réservation"),  # French: 0 and 1 are singular
        ("fr", 1, "1 réservation"),
        ("fr", 2, "2 réservations"),
        ("es", 1, "1 reserva"),
        ("es", 0, "0 reservas"),
        ("es", 1000000, "1000000 reservas"),  # CLDR "many"
        ("it", 1, "1 prenotazione"),
        ("it", 3, "3 prenotazioni"),
        ("tr", 1, "1 rezervasyon"),  # Turkish nouns stay singular after a number
        ("tr", 5, "5 rezervasyon"),
    ],
)
def test_plurals_follow_each_language(lang: str, n: int, expected: str) -> None:
    t = translations(lang)
    assert t.ngettext("%(count)s booking", "%(count)s bookings", n) % {"count": n} == expected


def test_dates_and_numbers_by_locale() -> None:
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
    assert Formats("fr").date(noon) == "mercredi 2 décembre 2026"
    assert Formats("es").date(noon) == "miércoles, 2 de diciembre de 2026"
    assert Formats("tr").date(noon) == "2 Aralık 2026 Çarşamba"
    assert Formats("en").time("2026-12-02T09:30:00+00:00", "Europe/Istanbul") == "12:30\u202fPM"
    assert Formats("fr").time("2026-12-02T09:30:00+00:00", "Europe/Paris") == "10:30"
    assert Formats("fr").datetime("2026-12-07T14:00:00+00:00", "Europe/Dublin") == "7 déc. 2026, 14:00"
    assert Formats("tr").datetime("2026-12-07T14:00:00+00:00", "Europe/Istanbul") == "7 Ara 2026 17:00"
    assert Formats("en").datetime("2026-07-07T14:00:00+00:00", "Europe/Dublin") == "Jul 7, 2026, 3:00\u202fPM"  # IST
    assert Formats("fr").number(1234.5) == "1\u202f234,5"
    assert Formats("it").number(1234.5) == "1.234,5"
    assert Formats("tr").number(1234.5) == "1.234,5"
    assert Formats("en").number(1234.5) == "1,234.5"


@pytest.mark.parametrize(
    ("wanted", "header", "expected"),
    [
        ("tr", "fr-FR,fr;q=0.9", "tr"),  # the person's choice first
        (None, "de-DE,fr;q=0.9", "fr"),  # else the browser's first supported language
        (None, "de-DE", "es"),  # else the region's
        ("xx", None, "es"),  # an unknown choice is ignored
    ],
)
def test_the_page_language(wanted: str | None, header: str | None, expected: str) -> None:
    assert pick(wanted, header, "es") == expected
