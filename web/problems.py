"""An API problem in the person's language. A refusal by the input's shape carries the validator's
``code`` and ``limits`` (``clustergrowth/errors.py``), so its reason is worded here, in each of the five
languages; a rule's own reason (a domain refusal such as "more than 4 days ahead") exists in English
only, and is marked as English (``lang="en"``, WCAG 3.1.2) on a page in another language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from babel.numbers import format_decimal
from markupsafe import Markup

from web import i18n
from web.platform import Problem


def _number(lang: str, value: int | float) -> str:
    return format_decimal(value, format="#,##0.##", locale=lang)


def reason(code: str, limits: dict[str, Any], lang: str) -> str | None:
    """``code`` with its ``limits`` in words in ``lang``; None for a code not worded here."""
    t = i18n.translations(lang)
    _ = t.gettext

    def count(key: str) -> int:
        return int(limits.get(key, 0))

    def n(key: str) -> dict[str, str]:
        return {"n": _number(lang, count(key))}

    def bound(key: str, text: str) -> str | None:
        value = limits.get(key)  # a number's bound; a date's or a text's is left to the API's words
        return text % {"n": _number(lang, value)} if isinstance(value, (int, float)) else None

    worded: dict[str, Callable[[], str | None]] = {
        "missing": lambda: _("This is required."),
        "string_too_short": lambda: (
            t.ngettext("Enter at least %(n)s character.", "Enter at least %(n)s characters.", count("min_length"))
            % n("min_length")
        ),
        "string_too_long": lambda: (
            t.ngettext("Enter at most %(n)s character.", "Enter at most %(n)s characters.", count("max_length"))
            % n("max_length")
        ),
        "too_short": lambda: (
            t.ngettext("Give at least %(n)s entry.", "Give at least %(n)s entries.", count("min_length"))
            % n("min_length")
        ),
        "too_long": lambda: (
            t.ngettext("Give at most %(n)s entry.", "Give at most %(n)s entries.", count("max_length"))
            % n("max_length")
        ),
        "greater_than": lambda: bound("gt", _("Enter a number greater than %(n)s.")),
        "greater_than_equal": lambda: bound("ge", _("Enter a number of at least %(n)s.")),
        "less_than": lambda: bound("lt", _("Enter a number less than %(n)s.")),
        "less_than_equal": lambda: bound("le", _("Enter a number of at most %(n)s.")),
        "int_parsing": lambda: _("Enter a whole number."),
        "int_type": lambda: _("Enter a whole number."),
        "int_from_float": lambda: _("Enter a whole number."),
        "float_parsing": lambda: _("Enter a number."),
        "float_type": lambda: _("Enter a number."),
        "bool_parsing": lambda: _("Choose yes or no."),
        "date_parsing": lambda: _("Enter a date as year-month-day, for example 2026-03-31."),
        "date_from_datetime_parsing": lambda: _("Enter a date as year-month-day, for example 2026-03-31."),
        "date_type": lambda: _("Enter a date as year-month-day, for example 2026-03-31."),
        "datetime_parsing": lambda: _("Enter a date and a time."),
        "datetime_from_date_parsing": lambda: _("Enter a date and a time."),
        "datetime_type": lambda: _("Enter a date and a time."),
        "timezone_aware": lambda: _("Enter a date and a time with its time zone."),
        "time_parsing": lambda: _("Enter a time as hours:minutes, for example 09:30."),
        "literal_error": lambda: _("Choose one of the options offered."),
        "enum": lambda: _("Choose one of the options offered."),
        "string_pattern_mismatch": lambda: _("This is not in the expected form."),
        "string_type": lambda: _("Enter text."),
        "extra_forbidden": lambda: _("This field is not accepted here."),
    }
    word = worded.get(code)
    return word() if word else None


def localise(problem: Problem, lang: str) -> Problem:
    """Word ``problem``'s field reasons in ``lang`` where their codes allow; mark the rest as English."""
    for name, why in list(problem.fields.items()):
        code, limits = problem.codes.get(name, ("", {}))
        worded = reason(code, limits, lang) if code else None
        if worded is not None:
            problem.fields[name] = worded
        elif lang != "en":
            problem.fields[name] = Markup('<span lang="en">{}</span>').format(why)
    return problem
