"""Strong ETags and If-Match for updates of objects that several people edit (lost-update protection).

The tag is the document's version, which every write increments, so it changes exactly when the
object does. An update must send ``If-Match`` with the tag it read, compared strongly (RFC 9110
§13.1.1): missing is 428, and so is ``*`` — it matches whatever version is there, so it guards
against nothing (RFC 6585 §3: the server requires a condition that prevents lost updates; the fix
is the same as for a missing one). A stale tag is 412, and so is a weak one (``W/"v3"``), which never
matches in a strong comparison.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from clustergrowth.problems import PreconditionFailed, PreconditionRequired
from clustergrowth.store.port import Doc

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="the ETag you read; required to update a shared object")
]


def etag(version: int) -> str:
    return f'"v{version}"'


def check(if_match: str | None, doc: Doc) -> None:
    """Refuse the update unless ``if_match`` names the document's current version with its strong tag."""
    tags = [t.strip() for t in (if_match or "").split(",") if t.strip()]
    if not tags:
        raise PreconditionRequired("send If-Match with the ETag you read (GET this object first)")
    if "*" in tags:
        raise PreconditionRequired(
            "If-Match: * matches any version, so it cannot keep you from overwriting someone else's change: "
            "send If-Match with the ETag you read (GET this object first)"
        )
    current = etag(doc["version"])
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
