"""Five languages: gettext catalogues (``web/locale/<lang>/LC_MESSAGES/messages.po``, compiled in memory at
start, so a fresh clone needs no build step), CLDR dates, numbers and plurals through Babel, and
Turkish casing."""

from __future__ import annotations

import datetime as dt_
import io
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from web.settings import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
NAMES = {lang: Locale.parse(lang).get_display_name(lang) for lang in LANGUAGES}  # each in its own words


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"


@cache
def translations(lang: str) -> Translations:
    """The language's catalogue, compiled from its .po file (fuzzy entries are not used)."""
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf)


def pick(wanted: str | None, accept_language: str | None, default: str) -> str:
    """The page's language: the person's choice, else the browser's first supported one, else the region's."""
    if wanted in LANGUAGES:
        return wanted
    for part in (accept_language or "").split(",")[:20]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default


def upper(text: str, lang: str) -> str:
    """Upper case as the language writes it: in Turkish the dotted i becomes İ (U+0130) and the dotless
    one (U+0131) I (Unicode SpecialCasing.txt); Python's str.upper() gives I for both."""
    if lang == "tr":
        text = text.replace("i", "İ")
    return text.upper()


def lower(text: str, lang: str) -> str:
    """Lower case as the language writes it: in Turkish I becomes the dotless U+0131 and İ the dotted i
    (SpecialCasing.txt)."""
    if lang == "tr":
        text = text.replace("I", "ı").replace("İ", "i")
    return text.lower()


class Formats:
    """Dates, times and numbers for one language (CLDR through Babel)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def datetime(self, value: str | dt_.datetime, tz: str = "UTC") -> str:
        """A medium date and a short time (no seconds), joined as the locale joins them (CLDR)."""
        moment = dt_.datetime.fromisoformat(value) if isinstance(value, str) else value
        glue = str(Locale.parse(self.lang).datetime_formats["medium"]).replace("'", "")
        return glue.replace("{0}", self.time(moment, tz)).replace("{1}", self.date(moment, tz, "medium"))

    def time(self, value: str | dt_.datetime, tz: str = "UTC") -> str:
        dt = dt_.datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_time(dt, "short", tzinfo=ZoneInfo(tz), locale=self.lang)

    def date(self, value: str | dt_.datetime, tz: str = "UTC", width: str = "full") -> str:
        dt = dt_.datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_date(dt.astimezone(ZoneInfo(tz)), width, locale=self.lang)  # type: ignore[arg-type]

    def number(self, value: float, digits: int = 1) -> str:
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=self.lang)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.lang)
