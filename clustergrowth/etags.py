"""Strong ETags and If-Match for updates of objects that several people edit (lost-update protection).

The tag is a digest of the object's content: the stored document without the bookkeeping that changes
when the content does not — the store's ``version``, the outbox fields the relay rewrites when it publishes
the document's events, and the ids of events an inbox applied. So every content change changes the tag, and
publication does not (a tag read just after a write stays good). The write itself stays a compare-and-set
on ``version`` (``aggregate.save``/``aggregate.update``), so two writers holding the same tag cannot both
win: the loser reads the object again and its tag no longer matches.

An update must send ``If-Match`` with the tag it read, compared strongly (RFC 9110 §13.1.1): missing is
428, and so is ``*`` — it matches whatever version is there, so it guards against nothing (RFC 6585 §3: the
server requires a condition that prevents lost updates; the fix is the same as for a missing one). A stale
tag is 412, and so is a weak one (``W/"…"``), which never matches in a strong comparison.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated

from fastapi import Header

from clustergrowth.aggregate import OUTBOX, PENDING
from clustergrowth.inbox import APPLIED
from clustergrowth.problems import PreconditionFailed, PreconditionRequired
from clustergrowth.store.port import Doc

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="the ETag you read; required to update a shared object")
]
BOOKKEEPING = frozenset({"version", OUTBOX, PENDING, APPLIED})  # top-level fields that are not content
LENGTH = 22  # base64url characters of the SHA-256 kept: 132 bits


def tag(doc: Doc) -> str:
    """The strong ETag of a stored object: its content (``doc`` without ``BOOKKEEPING``) as canonical JSON
    (sorted keys, no blanks), hashed with SHA-256, in base64url, cut to ``LENGTH`` characters, quoted."""
    content = {k: v for k, v in doc.items() if k not in BOOKKEEPING}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return '"' + base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode()[:LENGTH] + '"'


def check(if_match: str | None, doc: Doc) -> None:
    """Refuse the update unless ``if_match`` names the document's current content with its strong tag."""
    tags = [t.strip() for t in (if_match or "").split(",") if t.strip()]
    if not tags:
        raise PreconditionRequired("send If-Match with the ETag you read (GET this object first)")
    if "*" in tags:
        raise PreconditionRequired(
            "If-Match: * matches any version, so it cannot keep you from overwriting someone else's change: "
            "send If-Match with the ETag you read (GET this object first)"
        )
    current = tag(doc)
    if current in tags:
        return
    if all(t[:2].upper() == "W/" for t in tags):
        raise PreconditionFailed(
            f"If-Match compares ETags strongly, so a weak tag ({tags[0]}) never matches: "
            "send the ETag you read as it was given (GET this object first)",
            current_etag=current,
        )
    raise PreconditionFailed(
        f"the object changed since you read it: it is now {current}; read it again, then send the ETag you read",
        current_etag=current,
    )
