"""A person-facing name (``clustergrowth.types.PersonName``; matching's ``display_name``) cannot pass for
another person's: it refuses Unicode control (Cc) and invisible formatting (Cf) characters (zero-width
spaces and joiners, bidi marks, embeddings, overrides and isolates), the next-line, line and paragraph
separators, is NFKC-normalised and holds a letter; a refusal is a 422 naming ``display_name`` and the
reason. The characters and the normalised forms are written out by hand here, not taken from the code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError

from clustergrowth.errors import install_problem_handlers
from clustergrowth.types import PersonName
from services.matching import commands as c

NAME: TypeAdapter[str] = TypeAdapter(PersonName)
PROFILE: dict[str, Any] = {
    "kind": "academic",
    "languages": ["en"],
    "available_from": "2026-12-10",
    "available_until": "2027-06-01",
}

# each refused character, by its code point as the Unicode standard lists it
INVISIBLE = [
    0x200B,  # zero width space
    0x200C,  # zero width non-joiner
    0x200D,  # zero width joiner
    0x200E,  # left-to-right mark
    0x200F,  # right-to-left mark
    0x202A,  # left-to-right embedding
    0x202B,  # right-to-left embedding
    0x202C,  # pop directional formatting
    0x202D,  # left-to-right override
    0x202E,  # right-to-left override
    0x2066,  # left-to-right isolate
    0x2067,  # right-to-left isolate
    0x2068,  # first strong isolate
    0x2069,  # pop directional isolate
    0x2060,  # word joiner
    0xFEFF,  # zero width no-break space (byte order mark)
    0x00AD,  # soft hyphen
    0x061C,  # arabic letter mark
]
CONTROLS = [0x00, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F, 0x80, 0x85, 0x9F]  # C0, DEL, C1 (0x85: next line)
SEPARATORS = [0x2028, 0x2029]  # line separator, paragraph separator


def refused(value: str) -> str:
    """The reason the model gives for ``display_name``, which must be the only field refused."""
    with pytest.raises(ValidationError) as e:
        c.Profile.model_validate({**PROFILE, "display_name": value})
    errors = e.value.errors()
    assert [err["loc"] for err in errors] == [("display_name",)], errors
    err = errors[0]
    return str((err.get("ctx") or {}).get("error") or err["msg"])  # the validator's sentence, as the API says it


@pytest.mark.parametrize("code", INVISIBLE + CONTROLS + SEPARATORS, ids=lambda n: f"U+{n:04X}")
def test_an_invisible_control_or_separator_character_is_refused_in_a_name(code: int) -> None:
    ch = chr(code)
    assert refused(f"Dr Deniz{ch}Yilmaz").startswith("must not contain the invisible or control character")
    for value in (f"Dr Deniz Yilmaz{ch}", f"{ch}Dr Deniz Yilmaz"):
        try:  # at either end: refused, or trimmed away as white space (tab, line breaks, U+0085, U+2028...)
            kept = c.Profile.model_validate({**PROFILE, "display_name": value}).display_name
        except ValidationError:
            continue
        assert kept == "Dr Deniz Yilmaz", (value, kept)
        assert ch.isspace(), value


def test_the_attackers_names_are_refused_with_the_character_named() -> None:
    assert refused("a\u202egnp.exe").endswith("U+202E")
    assert refused("\u200b").endswith("U+200B")
    assert refused("x\u2028y").endswith("U+2028")
    assert refused("x\x85y").endswith("U+0085")


@pytest.mark.parametrize(
    "value",
    [
        "Dr Deniz Yılmaz",  # dotless i: a letter (Ll), kept as it is
        "Siobhán Ní Bhriain",
        "Zoë O'Brien-Smith",
        "李小龙",  # Lo
        "أحمد",  # right-to-left letters need no control character
        "J.",
        "x" * 100,
        "a\u00a0b",  # a no-break space is a space (Zs), not invisible: NFKC makes it U+0020
    ],
)
def test_visible_names_in_any_script_are_accepted(value: str) -> None:
    got = c.Profile.model_validate({**PROFILE, "display_name": value}).display_name
    assert got == (value if value != "a\u00a0b" else "a b")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("Ｄｒ Ｄｅｎｉｚ", "Dr Deniz"),  # full-width letters U+FF24 ... read as ASCII
        ("ﬁona", "fiona"),  # the fi ligature U+FB01
        ("Dr Ａ", "Dr A"),
        ("Deniz\u3000Yilmaz", "Deniz Yilmaz"),  # ideographic space U+3000
        ("ℌilde", "Hilde"),  # black-letter capital H U+210C
        ("Andre\u0301", "André"),  # e + combining acute composes into U+00E9
    ],
)
def test_a_name_is_nfkc_normalised(sent: str, kept: str) -> None:
    assert NAME.validate_python(sent) == kept
    assert c.Profile.model_validate({**PROFILE, "display_name": sent}).display_name == kept


@pytest.mark.parametrize("value", ["1234", "-", "...", "42 !", "٣"])  # ٣: a digit (Nd)
def test_a_name_without_a_letter_is_refused(value: str) -> None:
    assert refused(value) == "must contain a letter"


def test_a_single_letter_is_enough() -> None:
    assert NAME.validate_python("Q") == "Q"
    assert NAME.validate_python("1 Q") == "1 Q"


def test_length_bounds_at_and_around_100() -> None:
    assert NAME.validate_python("x" * 100) == "x" * 100
    assert NAME.validate_python("x" * 99) == "x" * 99
    with pytest.raises(ValidationError):
        NAME.validate_python("x" * 101)
    with pytest.raises(ValidationError):
        NAME.validate_python("")
    # within 100 as sent, longer once normalised: U+FDFA becomes 18 characters
    long = "x" * 90 + "\ufdfa"
    assert len(long) == 91
    with pytest.raises(ValidationError, match="more than 100 characters once normalised"):
        NAME.validate_python(long)
    fits = "x" * 82 + "\ufdfa"  # 82 + 18 = 100
    assert len(NAME.validate_python(fits)) == 100


def test_no_display_name_is_still_allowed() -> None:
    assert c.Profile.model_validate(PROFILE).display_name is None


async def test_the_api_answers_422_naming_display_name_and_the_reason() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.put("/profile")
    async def put(body: c.Profile) -> dict[str, Any]:
        return {"display_name": body.display_name}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.put("/profile", json={**PROFILE, "display_name": "Dr Deniz Y\u0131lmaz\u202e"})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        [err] = r.json()["errors"]
        assert err["field"] == "display_name"
        assert err["reason"] == "must not contain the invisible or control character U+202E"
        r = await client.put("/profile", json={**PROFILE, "display_name": "Ｄｒ Deniz"})
        assert r.status_code == 200
        assert r.json() == {"display_name": "Dr Deniz"}
