"""ETags of the councils objects: a revision the service bumps on each change it makes to an object, not
the store's version, which the outbox relay also bumps when it marks a document's events published (so a
tag read just after a write would go stale with no change anyone made)."""

from __future__ import annotations

from clustergrowth import etags
from clustergrowth.store.port import Doc


def revision(doc: Doc) -> int:
    return int(doc.get("revision", 1))


def revised(new: Doc, old: Doc) -> Doc:
    """The new state of ``old``, one revision further."""
    return {**new, "revision": revision(old) + 1}


def check(if_match: str | None, doc: Doc) -> None:
    """Refuse the change unless ``if_match`` is the strong tag of the object's current revision."""
    etags.check(if_match, {"version": revision(doc)})


def tag(doc: Doc) -> str:
    return etags.etag(revision(doc))
