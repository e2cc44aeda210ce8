"""The document-store port: the small subset of MongoDB that MongoDB, FerretDB and SQLite all do well.

Documents are JSON-like dicts with a string ``_id`` and an integer ``version``. Writes to an existing
document are compare-and-set on ``version``; that single guarded write is how aggregates, their
embedded outboxes and idempotent projections stay consistent without multi-document transactions.

An aggregate's pending events live in its document (``outbox``, with ``outbox_pending`` saying whether
there are any). Two writes keep that list right whoever writes first: ``replace_with_outbox`` (the new
state, its events after those still stored) and ``drop_outbox`` (the relay removing what it published).
A store may drop without changing ``version`` (SQLite: then a booking never loses its race to the relay
and has to decide again), provided its ``replace_with_outbox`` takes the stored list, not the caller's.

Filters: equality on (dotted) paths, where a path through an array matches any element (equality with
``None`` also matches a missing field, as in MongoDB), the operators ``$in $nin $ne $gt $gte $lt $lte
$exists``, and ``{"$or": [filter, …]}`` / ``{"$and": [filter, …]}``.

Pages: ``page`` is keyset (seek) pagination. A sort is made total by ending it with ``_id``; a page is
the first ``limit`` matching documents strictly after ``after``, the sort-key values (``page_key``) of
the last document served. Sort fields hold strings, numbers or nothing (a missing field or ``None``
sorts first ascending, last descending); one field should hold one of those types throughout.
"""

from __future__ import annotations

import math
import re
from typing import Any, Protocol

Doc = dict[str, Any]
OUTBOX = "outbox"  # an aggregate's events not yet published, oldest first (each with its "id")
PENDING = "outbox_pending"  # whether OUTBOX holds any: what the relay's query selects on


class DuplicateKey(Exception):
    """An insert collided with an existing ``_id`` or a unique index."""


class UnportableDocument(ValueError):
    """A document that some MongoDB-protocol servers cannot store (FerretDB v1 is the yardstick)."""


def check_portable(doc: Doc) -> None:
    """Refuse nested arrays and keys with ``.`` or a leading ``$``, on every adapter alike.

    Every write runs this over the whole document, so it asks C-level questions of each container
    first (its keys joined into one string, the set of its values' types) and walks key by key or
    value by value only where that answer leaves a doubt (most of a booking's fields are strings)."""
    stack: list[Any] = [doc]
    pop, push = stack.pop, stack.append
    while stack:
        value = pop()
        if type(value) is dict:
            keys = "\x00".join(value) if set(map(type, value)) <= {str} else None  # exactly str, no subclass
            if keys is None or "." in keys or keys[:1] == "$" or "\x00$" in keys:
                for k in value:  # a doubt (a key may hold "\x00$" itself): each key in turn decides
                    if type(k) is not str or "." in k or k[:1] == "$":
                        raise UnportableDocument(f"key {k!r} is not portable")
            values = value.values()
            kinds = set(map(type, values))
            if dict in kinds or list in kinds:
                for v in values:
                    if type(v) is dict or type(v) is list:
                        push(v)
        else:  # a list: only lists are pushed
            kinds = set(map(type, value))
            if list in kinds:
                raise UnportableDocument("nested arrays are not portable")
            if dict in kinds:
                for v in value:
                    if type(v) is dict:
                        push(v)


class DocumentStore(Protocol):
    """One service's database."""

    async def get(self, collection: str, id: str) -> Doc | None: ...

    async def insert(self, collection: str, doc: Doc) -> None:
        """Insert a new document (its ``version`` is set to 1); raises DuplicateKey."""

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        """Replace the document if its stored version is ``expected_version``; sets version+1. A document
        with an outbox is written with ``replace_with_outbox``: this writes back the outbox as read."""

    async def replace_with_outbox(self, collection: str, doc: Doc, events: list[Doc], expected_version: int) -> bool:
        """``replace``, the stored ``OUTBOX`` followed by ``events`` becoming the new one (``PENDING`` set to
        whether it holds any). ``doc``'s own ``OUTBOX`` is what was read at ``expected_version``: a store
        whose ``drop_outbox`` changes the version may take it as the stored one."""

    async def drop_outbox(self, collection: str, id: str, event_ids: set[str]) -> None:
        """Remove the events with these ids from the document's ``OUTBOX``, keeping any others (added since),
        ``PENDING`` set to whether any remain. Changing the document's ``version`` or not is the store's choice."""

    async def find(
        self,
        collection: str,
        filter: Doc | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int | None = None,
    ) -> list[Doc]: ...

    async def page(
        self,
        collection: str,
        filter: Doc | None,
        sort: list[tuple[str, int]],
        after: list[Any] | None,
        limit: int,
    ) -> list[Doc]:
        """Up to ``limit`` matching documents in ``total_order(sort)``, strictly after the key ``after``.

        The cost is that of ``limit`` documents (plus those the filter skips), never of every match.
        Raises ValueError for an empty or malformed sort, a key ``after`` of the wrong length or with
        non-scalar values, or a limit below 1.
        """

    async def count(self, collection: str, filter: Doc | None = None) -> int: ...

    async def delete(self, collection: str, id: str) -> bool: ...

    async def ensure_index(self, collection: str, fields: list[str], *, unique: bool = False) -> None:
        """Index top-level scalar fields; a unique index makes colliding inserts fail."""

    async def drop_index(self, collection: str, fields: list[str]) -> None:
        """Drop the index ``ensure_index`` made on ``fields`` (the same fields in the same order), if there is
        one: for an index another one has made redundant, which every write still paid for."""

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


def _eq(values: list[Any], arg: Any) -> bool:
    if arg is None:
        return not values or any(v is None for v in values)
    return any(v == arg for v in values)


def _match_condition(values: list[Any], cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
        for op, arg in cond.items():
            if op == "$exists":
                if bool(values) != bool(arg):
                    return False
            elif op == "$ne":
                if _eq(values, arg):
                    return False
            elif op == "$in":
                if not any(_eq(values, a) for a in arg):
                    return False
            elif op == "$nin":
                if any(_eq(values, a) for a in arg):
                    return False
            elif op in ("$gt", "$gte", "$lt", "$lte"):
                if not any(_cmp(op, v, arg) for v in values):
                    return False
            else:
                raise ValueError(f"unsupported operator {op}")
        return True
    return _eq(values, cond)


def matches(doc: Doc, filter: Doc | None) -> bool:
    """Evaluate a port filter against one document (the embedded adapter's query engine)."""
    for key, cond in (filter or {}).items():
        if key == "$or":
            if not any(matches(doc, f) for f in cond):
                return False
        elif key == "$and":
            if not all(matches(doc, f) for f in cond):
                return False
        elif key.startswith("$"):
            raise ValueError(f"unsupported operator {key}")
        elif not _match_condition(_values(doc, key.split(".")), cond):
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


Sort = list[tuple[str, int]]
_SCALARS = (str, int, float, type(None))
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def total_order(sort: Sort) -> Sort:
    """``sort`` checked, ending with ``_id`` (ascending unless the sort names it), so the order is total."""
    if not sort:
        raise ValueError("a page needs at least one sort field")
    out: Sort = []
    for field, direction in sort:
        if not isinstance(field, str) or not _FIELD.fullmatch(field):
            raise ValueError(f"bad sort field {field!r} (a dotted path of identifiers)")
        if direction not in (1, -1) or isinstance(direction, bool):
            raise ValueError(f"sort direction of {field!r} must be 1 or -1, not {direction!r}")
        if any(f == field for f, _ in out):
            raise ValueError(f"sort field {field!r} named twice")
        out.append((field, direction))
        if field == "_id":
            return out  # unique: later fields could never decide anything
    return [*out, ("_id", 1)]


def page_key(doc: Doc, sort: Sort) -> list[Any]:
    """The key of ``doc`` in ``total_order(sort)``: what ``page`` takes as ``after`` to go on from it."""
    key = []
    for field, _ in total_order(sort):
        vals = _values(doc, field.split("."))
        key.append(vals[0] if vals else None)
    return key


def check_after(after: list[Any] | None, order: Sort) -> None:
    """Refuse a key that cannot be a ``page_key`` of ``order`` (ValueError)."""
    if after is None:
        return
    if not isinstance(after, list) or len(after) != len(order):
        raise ValueError(f"after must be a list of {len(order)} values: {[f for f, _ in order]}")
    for (field, _), v in zip(order, after, strict=True):
        if isinstance(v, bool) or not isinstance(v, _SCALARS):
            raise ValueError(f"after: {field} must be a string, a number or null")
        if (isinstance(v, float) and not math.isfinite(v)) or (isinstance(v, int) and not -(2**63) <= v < 2**63):
            raise ValueError(f"after: {field} is a number no store holds")
    if after[-1] is None:
        raise ValueError("after: _id cannot be null")


def check_page(sort: Sort, after: list[Any] | None, limit: int) -> Sort:
    """Validate the arguments of ``page``; returns the total order."""
    order = total_order(sort)
    check_after(after, order)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    return order


def seek_segments(order: Sort, after: list[Any]) -> list[list[tuple[str, str, Any]]]:
    """The documents after ``after`` as consecutive runs of the order, first run first.

    Each run is a conjunction of ``(field, op, value)`` with op ``eq`` (null-safe), ``gt``, ``lt``,
    ``null`` or ``notnull``: the fields before the i-th equal to the key, the i-th beyond it. The runs
    are disjoint and, read in turn, are exactly the rest of the order, so each can be one range scan.
    """
    runs: list[list[tuple[str, str, Any]]] = []
    for i in reversed(range(len(order))):
        prefix = [(f, "eq", v) for (f, _), v in zip(order[:i], after[:i], strict=True)]
        field, direction = order[i]
        v = after[i]
        if direction > 0:
            runs.append([*prefix, (field, "notnull", None) if v is None else (field, "gt", v)])
        elif v is not None:  # descending: the smaller values, then the missing ones (nulls sort last)
            runs.append([*prefix, (field, "lt", v)])
            runs.append([*prefix, (field, "null", None)])
    return runs


def seek_filter(order: Sort, after: list[Any]) -> Doc | None:
    """The MongoDB filter for documents after ``after`` in ``order`` (None: there are none)."""
    clauses = []
    for run in seek_segments(order, after):
        clause: Doc = {}
        for field, op, v in run:
            clause[field] = {
                "eq": v,
                "gt": {"$gt": v},
                "lt": {"$lt": v},
                "null": None,
                "notnull": {"$ne": None},
            }[op]
        clauses.append(clause)
    return {"$or": clauses} if clauses else None


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
