"""The web client's five catalogues are complete: every message the pages use (extracted from the code
and templates now, not from a stored list) is translated in every language, none fuzzy, with the CLDR
plural forms Babel gives for the language and the same placeholders as the English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from web.i18n import po_path
from web.settings import LANGUAGES

WEB = Path(__file__).resolve().parents[2] / "web"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def used() -> set[str | tuple[str, str]]:
    out: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(WEB), METHODS, options_map=OPTIONS):
        out.add(message if isinstance(message, str) else (message[0], message[1]))
    return out


MESSAGES = used()


def test_the_pages_use_messages_at_all() -> None:
    assert "Skip to content" in MESSAGES  # the extractor reads the templates
    assert ("%(count)s booking", "%(count)s bookings") in MESSAGES  # ... and their plurals
    assert "Choose what to book." in MESSAGES  # ... and the Python pages
    assert len(MESSAGES) > 80


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    assert catalog.plural_forms == get_plural(lang).plural_forms  # CLDR's forms, as Babel derives them
    entries = {m.id if isinstance(m.id, str) else (m.id[0], m.id[1]): m for m in catalog if m.id}
    missing = sorted(str(m) for m in MESSAGES if m not in entries)
    assert missing == [], f"{lang}: not in the catalogue: {missing}"
    for key in MESSAGES:
        m = entries[key]
        assert "fuzzy" not in m.flags, f"{lang}: fuzzy: {key}"
        strings = [str(x) for x in m.string] if isinstance(m.string, tuple) else [str(m.string or "")]
        assert len(strings) == (catalog.num_plurals if isinstance(key, tuple) else 1), f"{lang}: forms of {key}"
        for s in strings:
            assert s.strip(), f"{lang}: untranslated: {key}"
            source = key if isinstance(key, str) else key[1]
            assert set(PLACEHOLDER.findall(s)) == set(PLACEHOLDER.findall(source)), f"{lang}: placeholders of {key}"


def test_a_missing_translation_is_caught(tmp_path: Path) -> None:
    """The check above fails on an empty or fuzzy entry (run on a damaged copy of the French catalogue)."""
    text = po_path("fr").read_text(encoding="utf-8")
    damaged = text.replace('msgstr "Réserver"', 'msgstr ""', 1)
    assert damaged != text
    with (tmp_path / "fr.po").open("w", encoding="utf-8") as f:
        f.write(damaged)
    with (tmp_path / "fr.po").open("rb") as f:
        catalog = read_po(f, locale="fr")
    entry = catalog.get("Book")
    assert entry is not None and entry.string == ""
