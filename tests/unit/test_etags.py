"""If-Match at the boundary: only the strong ETag that was read lets an update through (RFC 9110 §13.1.1),
and the tag is a digest of the object's content, so it changes with every content change and with nothing
else (not with the store's ``version``, nor with the outbox fields the relay rewrites when it publishes)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from clustergrowth import etags
from clustergrowth.problems import PreconditionFailed, PreconditionRequired, Problem

DOC = {"_id": "ch-1", "version": 3, "title": "Energy audit", "outbox": [], "outbox_pending": False}
# by hand: the canonical JSON of the content (sorted keys, no blanks; no version or outbox fields), its
# SHA-256 in base64url cut to 22 characters, quoted
CURRENT = '"QaRhPA26dDPFuCJ5dt6Ha-"'


def test_the_tag_is_the_digest_of_the_canonical_content() -> None:
    digest = hashlib.sha256(b'{"_id":"ch-1","title":"Energy audit"}').digest()
    assert CURRENT == '"' + base64.urlsafe_b64encode(digest).decode()[:22] + '"'
    assert etags.tag(DOC) == CURRENT


CHALLENGE: dict[str, Any] = {
    "_id": "ch-1",
    "title": "Energy audit",
    "capacity": 2,
    "skills": ["energy", "data"],
    "need": {"dimension": "finance", "score": 1.5},
    "supervisor": None,
    "version": 7,
    "outbox": [{"id": "ev-1"}],
    "outbox_pending": True,
}


def test_the_relay_and_the_store_do_not_change_the_tag() -> None:
    """What publication does to a document (outbox emptied, pending cleared, version bumped), and what
    another inbox or store bookkeeping adds, leaves the tag as it was."""
    published = {**CHALLENGE, "outbox": [], "outbox_pending": False, "version": 8}
    assert etags.tag(published) == etags.tag(CHALLENGE)
    bare = {k: v for k, v in CHALLENGE.items() if k not in ("version", "outbox", "outbox_pending")}
    assert etags.tag(bare) == etags.tag(CHALLENGE)
    assert etags.tag({**CHALLENGE, "applied_events": ["ev-9"]}) == etags.tag(CHALLENGE)


def test_the_same_content_in_any_key_order_has_the_same_tag() -> None:
    reordered = dict(reversed(list(CHALLENGE.items())))
    reordered["need"] = {"score": 1.5, "dimension": "finance"}
    assert list(reordered) != list(CHALLENGE)
    assert etags.tag(reordered) == etags.tag({**CHALLENGE})


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Energy audit "},  # one character
        {"capacity": 3},
        {"capacity": 2.5},
        {"capacity": "2"},  # same digits, another type
        {"skills": ["data", "energy"]},  # order of a list is content
        {"skills": ["energy"]},
        {"need": {"dimension": "finance", "score": 1.6}},  # nested
        {"supervisor": "prof"},
        {"supervisor": False},
        {"_id": "ch-2"},  # another object
        {"status": "open"},  # a new field
    ],
)
def test_every_content_change_changes_the_tag(change: dict[str, Any]) -> None:
    assert etags.tag({**CHALLENGE, **change}) != etags.tag(CHALLENGE)


def test_a_removed_field_changes_the_tag() -> None:
    assert etags.tag({k: v for k, v in CHALLENGE.items() if k != "supervisor"}) != etags.tag(CHALLENGE)


def test_the_tag_is_a_strong_entity_tag() -> None:
    t = etags.tag(CHALLENGE)
    assert len(t) == 24 and t[0] == t[-1] == '"'
    assert all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in t[1:-1])


@pytest.mark.parametrize(
    "if_match",
    [CURRENT, f" {CURRENT} ", f'"v2", {CURRENT}', f'{CURRENT},W/"v2"'],
)
def test_the_current_strong_tag_passes(if_match: str) -> None:
    etags.check(if_match, DOC)


def test_a_tag_read_before_the_relay_published_still_passes() -> None:
    read = etags.tag(DOC)
    etags.check(read, {**DOC, "version": 4, "outbox": [], "outbox_pending": False})


def test_a_tag_read_before_a_content_change_is_stale() -> None:
    read = etags.tag(DOC)
    with pytest.raises(PreconditionFailed):
        etags.check(read, {**DOC, "title": "Energy audit 2"})


@pytest.mark.parametrize(
    ("if_match", "refusal"),
    [
        (None, PreconditionRequired),
        ("", PreconditionRequired),
        (" , ", PreconditionRequired),
        ("*", PreconditionRequired),  # matches every version: it guards nothing
        (" * ", PreconditionRequired),
        ('"v2", *', PreconditionRequired),
        (f"{CURRENT}, *", PreconditionRequired),
        (f"W/{CURRENT}", PreconditionFailed),  # weak tags never match in a strong comparison
        (f"w/{CURRENT}", PreconditionFailed),
        (f'W/{CURRENT}, W/"v2"', PreconditionFailed),
        ('"v2"', PreconditionFailed),  # stale
        ('"v3"', PreconditionFailed),  # the version is not the tag
        (CURRENT.strip('"'), PreconditionFailed),  # not an entity tag: the quotes are part of it
        (CURRENT.swapcase(), PreconditionFailed),
        (CURRENT[:-2] + '"', PreconditionFailed),  # cut short
    ],
)
def test_anything_else_is_refused(if_match: str | None, refusal: type[Problem]) -> None:
    with pytest.raises(refusal) as e:
        etags.check(if_match, DOC)
    assert "ETag you read" in e.value.detail
    if refusal is PreconditionFailed:
        assert e.value.extensions["current_etag"] == CURRENT


SEND = "send If-Match with the ETag you read (GET this object first)"


@pytest.mark.parametrize(
    ("if_match", "detail"),
    [
        (None, SEND),
        ("*", "If-Match: * matches any version, so it cannot keep you from overwriting someone else's change: " + SEND),
        (
            f"W/{CURRENT}",
            f"If-Match compares ETags strongly, so a weak tag (W/{CURRENT}) never matches: "
            "send the ETag you read as it was given (GET this object first)",
        ),
        (
            f'w/{CURRENT}, W/"v2"',
            f"If-Match compares ETags strongly, so a weak tag (w/{CURRENT}) never matches: "
            "send the ETag you read as it was given (GET this object first)",
        ),
        (
            '"v2"',
            f"the object changed since you read it: it is now {CURRENT}; read it again, then send the ETag you read",
        ),
        (
            f'W/{CURRENT}, "v2"',
            f"the object changed since you read it: it is now {CURRENT}; read it again, then send the ETag you read",
        ),
    ],
)
def test_each_refusal_says_why_and_what_to_send(if_match: str | None, detail: str) -> None:
    """The detail is what a client acts on: the reason the tag was refused and what to send (the text
    written out here is the specification)."""
    with pytest.raises(Problem) as e:
        etags.check(if_match, DOC)
    assert e.value.detail == detail
