"""If-Match at the boundary: only the strong ETag that was read lets an update through (RFC 9110 §13.1.1)."""

from __future__ import annotations

import pytest

from clustergrowth import etags
from clustergrowth.problems import PreconditionFailed, PreconditionRequired, Problem

DOC = {"_id": "ch-1", "version": 3}


@pytest.mark.parametrize("if_match", ['"v3"', ' "v3" ', '"v2", "v3"', '"v3",W/"v2"'])
def test_the_current_strong_tag_passes(if_match: str) -> None:
    etags.check(if_match, DOC)


@pytest.mark.parametrize(
    ("if_match", "refusal"),
    [
        (None, PreconditionRequired),
        ("", PreconditionRequired),
        (" , ", PreconditionRequired),
        ("*", PreconditionRequired),  # matches every version: it guards nothing
        (" * ", PreconditionRequired),
        ('"v2", *', PreconditionRequired),
        ('"v3", *', PreconditionRequired),
        ('W/"v3"', PreconditionFailed),  # weak tags never match in a strong comparison
        ('w/"v3"', PreconditionFailed),
        ('W/"v3", W/"v2"', PreconditionFailed),
        ('"v2"', PreconditionFailed),  # stale
        ('"v4"', PreconditionFailed),
        ("v3", PreconditionFailed),  # not an entity tag: the quotes are part of it
        ('"V3"', PreconditionFailed),
    ],
)
def test_anything_else_is_refused(if_match: str | None, refusal: type[Problem]) -> None:
    with pytest.raises(refusal) as e:
        etags.check(if_match, DOC)
    assert "ETag you read" in e.value.detail
    if refusal is PreconditionFailed:
        assert e.value.extensions["current_etag"] == '"v3"'


SEND = "send If-Match with the ETag you read (GET this object first)"


@pytest.mark.parametrize(
    ("if_match", "detail"),
    [
        (None, SEND),
        ("*", "If-Match: * matches any version, so it cannot keep you from overwriting someone else's change: " + SEND),
        (
            'W/"v3"',
            'If-Match compares ETags strongly, so a weak tag (W/"v3") never matches: '
            "send the ETag you read as it was given (GET this object first)",
        ),
        (
            'w/"v3", W/"v2"',
            'If-Match compares ETags strongly, so a weak tag (w/"v3") never matches: '
            "send the ETag you read as it was given (GET this object first)",
        ),
        ('"v2"', 'the object changed since you read it: it is now "v3"; read it again, then send the ETag you read'),
        (
            'W/"v3", "v2"',
            'the object changed since you read it: it is now "v3"; read it again, then send the ETag you read',
        ),
    ],
)
def test_each_refusal_says_why_and_what_to_send(if_match: str | None, detail: str) -> None:
    """The detail is what a client acts on: the reason the tag was refused and what to send (the text
    written out here is the specification)."""
    with pytest.raises(Problem) as e:
        etags.check(if_match, DOC)
    assert e.value.detail == detail
