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
