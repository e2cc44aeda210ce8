"""Candidates by name: the display name a candidate gives on her profile (``PUT /candidates/me``), added
to the answers that name her (a match's ``candidate``, a round's assignments and explanations) when they
are read, so that people see names rather than platform ids. Read at query time from the profiles, one
batched read per answer (however many matches or rounds it holds), never stored in a match, a round or
an event: a name changed on the profile shows at once. Null when the profile gives none (or is gone)."""

from __future__ import annotations

from collections.abc import Iterable

from clustergrowth.store.port import Doc
from services.matching import store as st
from services.matching.handlers.context import Matching


async def display_names(m: Matching, ids: Iterable[str]) -> dict[str, str | None]:
    """The display name of each candidate in ``ids`` that keeps a profile here (one read for all)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found = await m.store.find(st.CANDIDATES, {"_id": {"$in": wanted}})
    return {d["_id"]: d.get("display_name") for d in found}


async def named_matches(m: Matching, docs: list[Doc]) -> list[Doc]:
    """Matches (as answered) with their candidate's ``display_name``."""
    names = await display_names(m, (d["candidate"] for d in docs))
    return [{**d, "display_name": names.get(d["candidate"])} for d in docs]


async def named_match(m: Matching, doc: Doc) -> Doc:
    [named] = await named_matches(m, [doc])
    return named


def _people(answer: Doc) -> list[str]:
    """Who a round's answer names: its assignments' and explanations' candidates (or the one explanation)."""
    rows = [*(answer.get("assignments") or []), *(answer.get("explanations") or [])]
    if answer.get("explanation") is not None:
        rows.append(answer["explanation"])
    return [r["student"] for r in rows]


def _name_rows(rows: list[Doc] | None, names: dict[str, str | None]) -> list[Doc] | None:
    return None if rows is None else [{**r, "display_name": names.get(r["student"])} for r in rows]


async def named_rounds(m: Matching, answers: list[Doc]) -> list[Doc]:
    """Rounds (summaries, reports, or a candidate's own explanation) with each named candidate's
    ``display_name``: one read for the candidates of every round given."""
    names = await display_names(m, (p for a in answers for p in _people(a)))
    out = []
    for a in answers:
        named = dict(a)
        for key in ("assignments", "explanations"):
            if key in a:
                named[key] = _name_rows(a[key], names)
        if a.get("explanation") is not None:
            named["explanation"] = {**a["explanation"], "display_name": names.get(a["explanation"]["student"])}
        out.append(named)
    return out


async def named_round(m: Matching, answer: Doc) -> Doc:
    [named] = await named_rounds(m, [answer])
    return named
