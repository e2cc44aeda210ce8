"""The councils' input models refuse control characters in free text, naming the field: a single line (titles,
names, place, display names, reasons, keys, units) holds none of C0 (U+0000-U+001F) nor DEL (U+007F);
multi-line text (minutes, motivation, purposes, summaries, descriptions, statements, notes) holds tab and line
breaks (LF, CR LF) and no other. The characters are listed by hand here, not taken from the code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.councils import commands as c
from tests.helpers import pid

# every control character but the three multi-line text may hold, written out
OTHER_CONTROLS = [chr(n) for n in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]]
assert len(OTHER_CONTROLS) == 30  # 32 C0 + DEL - tab - LF - CR
PRINTABLE_EDGES = ["\x20", "\x7e", "\x80", "é"]  # just outside the refused ranges (C1 is not C0)

COUNCIL: dict[str, Any] = {"name": "N", "city": "Cork", "host_organisation": "IE05:MTU", "purpose": "P"}
MEETING: dict[str, Any] = {
    "title": "T",
    "mode": "online",
    "timezone": "Europe/Dublin",
    "start": "2030-01-01T09:00:00+00:00",
    "end": "2030-01-01T10:00:00+00:00",
    "seats": 5,
}
ITEM: dict[str, Any] = {"title": "t", "owner": pid("ann"), "due_on": "2030-01-01"}
ONE_LINE: list[tuple[type[BaseModel], dict[str, Any], str]] = [  # model, a valid body, a single-line field
    (c.FormCouncil, COUNCIL, "name"),
    (c.FormCouncil, COUNCIL, "city"),
    (c.FormCouncil, {**COUNCIL, "themes": [{"key": "finance", "label": "L"}]}, "themes.0.label"),
    (c.FormCouncil, {**COUNCIL, "themes": [{"key": "finance", "source": "S"}]}, "themes.0.source"),
    (c.FormCouncil, {**COUNCIL, "themes": [{"key": "finance"}]}, "themes.0.key"),
    (c.UpdateCouncil, {"name": "N"}, "name"),
    (c.Invite, {"person": pid("a"), "constituency": "sme", "display_name": "A"}, "display_name"),
    (c.Invite, {"person": pid("a"), "constituency": "sme", "display_name": "A", "email": "a@b.eu"}, "email"),
    (c.Apply, {"council_id": "cnl-1", "constituency": "sme", "display_name": "A"}, "display_name"),
    (c.Accept, {"display_name": "A"}, "display_name"),
    (c.Reject, {"reason": "R"}, "reason"),
    (c.ScheduleMeeting, MEETING, "title"),
    (c.ScheduleMeeting, {**MEETING, "place": "Room 1"}, "place"),
    (c.ScheduleMeeting, MEETING, "timezone"),
    (c.ScheduleMeeting, {**MEETING, "agenda": [{"title": "A"}]}, "agenda.0.title"),
    (c.UpdateMeeting, {"place": "Room 1"}, "place"),
    (c.UpdateMeeting, {"title": "T"}, "title"),
    (c.CancelMeeting, {"reason": "R"}, "reason"),
    (c.CloseMeeting, {"action_items": [ITEM]}, "action_items.0.title"),
    (c.OpenDecision, {"title": "T"}, "title"),
    (c.Vote, {"option": "endorse", "reason": "R"}, "reason"),
    (c.ProposeInitiative, {"title": "T", "summary": "S"}, "title"),
    (c.Progress, {"progress": 1, "milestones": [{"title": "M", "due_on": "2030-01-01"}]}, "milestones.0.title"),
    (c.Progress, {"progress": 1, "kpis": [{"key": "k", "unit": "u", "target": 1}]}, "kpis.0.unit"),
    (c.Abandon, {"reason": "R"}, "reason"),
]
PARAGRAPHS: list[tuple[type[BaseModel], dict[str, Any], str]] = [  # model, a valid body, a multi-line field
    (c.FormCouncil, COUNCIL, "purpose"),
    (c.FormCouncil, {**COUNCIL, "success_factors": [{"key": "sme_university", "note": "N"}]}, "success_factors.0.note"),
    (c.UpdateCouncil, {"purpose": "P"}, "purpose"),
    (c.Apply, {"council_id": "cnl-1", "constituency": "sme", "display_name": "A", "motivation": "M"}, "motivation"),
    (c.DraftMinutes, {"text": "M"}, "text"),
    (c.CloseMeeting, {"minutes": "M"}, "minutes"),
    (c.OpenDecision, {"title": "T", "description": "D"}, "description"),
    (c.CloseDecision, {"statement": "S", "chosen_option": "endorse"}, "statement"),
    (c.ProposeInitiative, {"title": "T", "summary": "S"}, "summary"),
]


def with_value(body: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """``body`` with the field at ``path`` (dots, list indexes) set to ``value``."""
    *parents, last = path.split(".")
    out: Any = {k: ([dict(x) for x in v] if isinstance(v, list) else v) for k, v in body.items()}
    node = out
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[last] = value
    return dict(out)


def refused(model: type[BaseModel], body: dict[str, Any]) -> list[str]:
    """The fields a 422 would name (pydantic's locations, as the API's problem names them)."""
    try:
        model.model_validate(body)
    except ValidationError as e:
        return [".".join(str(p) for p in err["loc"]) for err in e.errors()]
    return []


def inside(field: str, char: str) -> str:
    """A value with ``char`` in the middle (so that stripping the ends of a value does not hide it)."""
    if field.endswith("key"):
        return f"a{char}b"
    if field.endswith("email"):
        return f"a{char}b@example.eu"
    if field.endswith("timezone"):
        return f"Europe/{char}Dublin"
    return f"a{char}b"


@pytest.mark.parametrize(("model", "body", "field"), ONE_LINE, ids=lambda x: getattr(x, "__name__", x))
def test_a_single_line_refuses_every_control_character_naming_the_field(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    assert refused(model, body) == []  # the body is valid as it is
    for char in [*OTHER_CONTROLS, "\t", "\n", "\r", "\r\n"]:
        assert field in refused(model, with_value(body, field, inside(field, char))), (field, repr(char))


FREE_LINES = [x for x in ONE_LINE if not x[2].endswith(("key", "email", "timezone"))]  # no pattern of their own


@pytest.mark.parametrize(("model", "body", "field"), FREE_LINES, ids=lambda x: getattr(x, "__name__", x))
def test_a_single_line_keeps_the_printable_characters_next_to_the_controls(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    for char in PRINTABLE_EDGES:
        assert refused(model, with_value(body, field, inside(field, char))) == [], (field, repr(char))


@pytest.mark.parametrize(("model", "body", "field"), PARAGRAPHS, ids=lambda x: getattr(x, "__name__", x))
def test_multi_line_text_holds_tab_and_line_breaks_only(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    for text in ("one\ttwo", "one\ntwo", "one\r\ntwo", "one\n\n\ttwo\r\nthree", *(f"a{ch}b" for ch in PRINTABLE_EDGES)):
        assert refused(model, with_value(body, field, text)) == [], (field, repr(text))
    for char in [*OTHER_CONTROLS, "\r"]:  # a CR alone (not before LF) is not a line break here
        assert field in refused(model, with_value(body, field, f"a{char}b")), (field, repr(char))
    assert field in refused(model, with_value(body, field, "a\n\rb"))  # LF CR: the CR stands alone


def test_the_refusal_says_which_character_and_where() -> None:
    with pytest.raises(ValidationError) as e:
        c.Reject.model_validate({"reason": "no\x07pe"})
    assert "U+0007 at position 2" in str(e.value)
