"""Translations of a versioned data file (an instrument): a file per language holding every person-facing
text of the English version by its ids, and nothing else.

The services keep their own files and their own names for them; this module merges a translation onto the
English version and refuses one with a gap, an id the version lacks, an empty text or a translated rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NOT_TEXT = frozenset({"id", "version", "method", "kind", "lang"})  # keys and rules: never translated


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


def translated(raw: dict[str, Any], path: Path, header: dict[str, Any]) -> dict[str, Any]:
    """The version ``raw`` in the language of the translation file ``path`` (checked whole: see ``overlay``).
    The file must say exactly ``header`` (``lang`` first, then what names the version, e.g. its ``id`` and
    ``version``), which is taken out before the merge; the result says its ``lang``."""
    words = json.loads(path.read_text())
    said = tuple(words.pop(key, None) for key in header)
    if said != tuple(header.values()):
        parts = [f"{key} {value!r}" for key, value in header.items()]
        wanted = f"{', '.join(parts[:-1])} and {parts[-1]}" if len(parts) > 1 else parts[0]
        raise ValueError(f"{path.name}: must say {wanted}")
    return {**overlay(raw, words, path.name), "lang": header["lang"]}
