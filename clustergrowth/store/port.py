"""The document-store port: the small subset of MongoDB that MongoDB, FerretDB and SQLite all do well.

Documents are JSON-like dicts with a string ``_id`` and an integer ``version``. Writes to an existing
document are compare-and-set on ``version``; that single guarded write is how aggregates, their
embedded outboxes and idempotent projections stay consistent without multi-document transactions.

Filters: equality on (dotted) paths, where a path through an array matches any element, and the
operators ``$in $nin $ne $gt $gte $lt $lte $exists``.
"""

from __future__ import annotations

from typing import Any, Protocol

Doc = dict[str, Any]


class DuplicateKey(Exception):
    """An insert collided with an existing ``_id`` or a unique index."""


class UnportableDocument(ValueError):
    """A document that some MongoDB-protocol servers cannot store (FerretDB v1 is the yardstick)."""


def check_portable(doc: Doc) -> None:
    """Refuse nested arrays and keys with ``.`` or a leading ``$``, on every adapter alike."""
    stack: list[Any] = [doc]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            for k, v in value.items():
                if type(k) is not str or "." in k or k[:1] == "$":
                    raise UnportableDocument(f"key {k!r} is not portable")
                if type(v) in (dict, list):
                    stack.append(v)
        elif kind is list:
            for v in value:
                t = type(v)
                if t is list:
                    raise UnportableDocument("nested arrays are not portable")
                if t is dict:
                    stack.append(v)


class DocumentStore(Protocol):
    """One service's database."""

    async def get(self, collection: str, id: str) -> Doc | None: ...

    async def insert(self, collection: str, doc: Doc) -> None:
        """Insert a new document (its ``version`` is set to 1); raises DuplicateKey."""

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        """Replace the document if its stored version is ``expected_version``; sets version+1."""

    async def find(
        self,
        collection: str,
        filter: Doc | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int | None = None,
    ) -> list[Doc]: ...

    async def count(self, collection: str, filter: Doc | None = None) -> int: ...

    async def delete(self, collection: str, id: str) -> bool: ...

    async def ensure_index(self, collection: str, fields: list[str], *, unique: bool = False) -> None:
        """Index top-level scalar fields; a unique index makes colliding inserts fail."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


_MISSING = object()


def _values(doc: Any, path: list[str]) -> list[Any]:
    """Every value at ``path``, fanning out through arrays as MongoDB does."""
    if not path:
        return [doc]
    if isinstance(doc, list):
        out: list[Any] = []
        for item in doc:
            out.extend(_values(item, path))
        return out
    if not isinstance(doc, dict):
        return []
    head, rest = path[0], path[1:]
    if head not in doc:
        return []
    value = doc[head]
    if not rest and isinstance(value, list):
        return [value, *value]
    return _values(value, rest)


def _cmp(op: str, a: Any, b: Any) -> bool:
    try:
        if op == "$gt":
            return bool(a > b)
        if op == "$gte":
            return bool(a >= b)
        if op == "$lt":
            return bool(a < b)
        if op == "$lte":
            return bool(a <= b)
    except TypeError:
        return False
    raise ValueError(f"unsupported operator {op}")


def _match_condition(values: list[Any], cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
        for op, arg in cond.items():
            if op == "$exists":
                if bool(values) != bool(arg):
                    return False
            elif op == "$ne":
                if any(v == arg for v in values):
                    return False
            elif op == "$in":
                if not any(v in arg for v in values):
                    return False
            elif op == "$nin":
                if any(v in arg for v in values):
                    return False
            elif op in ("$gt", "$gte", "$lt", "$lte"):
                if not any(_cmp(op, v, arg) for v in values):
                    return False
            else:
                raise ValueError(f"unsupported operator {op}")
        return True
    return any(v == cond for v in values)


def matches(doc: Doc, filter: Doc | None) -> bool:
    """Evaluate a port filter against one document (the embedded adapter's query engine)."""
    for key, cond in (filter or {}).items():
        if not _match_condition(_values(doc, key.split(".")), cond):
            return False
    return True


def sort_key(fields: list[tuple[str, int]]) -> Any:
    """A key function for sorting documents by several fields (None sorts first)."""

    def key(doc: Doc) -> tuple[Any, ...]:
        out = []
        for f, _ in fields:
            vals = _values(doc, f.split("."))
            v = vals[0] if vals else None
            out.append((v is not None, v))
        return tuple(out)

    return key


async def put(store: DocumentStore, collection: str, doc: Doc, attempts: int = 20) -> None:
    """Create or overwrite a document whose new content does not depend on the old one.

    Still goes through the version guard, so a lost race is retried rather than silently dropped.
    """
    for _ in range(attempts):
        old = await store.get(collection, doc["_id"])
        try:
            if old is None:
                await store.insert(collection, doc)
                return
            if await store.replace(collection, doc, old["version"]):
                return
        except DuplicateKey:
            continue  # created concurrently: read it and overwrite
    raise DuplicateKey(f"{collection}/{doc['_id']} kept changing; gave up after {attempts} attempts")
