"""Strong ETags and If-Match for updates of objects that several people edit (lost-update protection).

The tag is the document's version, which every write increments, so it changes exactly when the
object does. An update must send ``If-Match`` with the tag it read: missing is 428, stale is 412.
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
    """Refuse the update unless ``if_match`` names the document's current version (or is ``*``)."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag you read (GET this object first)")
    tags = {t.strip() for t in if_match.split(",")}
    if "*" not in tags and etag(doc["version"]) not in tags:
        raise PreconditionFailed(
            f"the object changed since you read it: it is now {etag(doc['version'])}; read it again",
            current_etag=etag(doc["version"]),
        )
