"""Refresh the catalogues after changing a page's words: ``python -m web.catalogues`` extracts every
message (Babel, with Jinja2's extractor) into ``web/locale/messages.pot`` and merges it into each
language's ``messages.po``; new and changed entries then need translating (the completeness test
fails until they are)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from web.i18n import LOCALE_DIR, po_path
from web.settings import LANGUAGES

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    pybabel = str(Path(sys.executable).parent / "pybabel")
    pot = LOCALE_DIR / "messages.pot"
    subprocess.run(
        [pybabel, "-q", "extract", "-F", "web/babel.cfg", "--no-location", "--sort-output", "-o", str(pot), "web"],
        cwd=ROOT,
        check=True,
    )
    for lang in LANGUAGES:
        command = "update" if po_path(lang).exists() else "init"
        subprocess.run(
            [pybabel, "-q", command, "-i", str(pot), "-d", str(LOCALE_DIR), "-l", lang, "--no-wrap"]
            + (["--no-fuzzy-matching"] if command == "update" else []),
            cwd=ROOT,
            check=True,
        )
        print(po_path(lang))
    return 0


if __name__ == "__main__":
    sys.exit(main())
