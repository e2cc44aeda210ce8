"""``migrations.rewrite`` over documents that carry an outbox, while another process's relay publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.migrations import rewrite
from clustergrowth.store.port import OUTBOX, PENDING, Doc
from clustergrowth.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "m.sqlite")
    try:
        yield s
    finally:
        await s.close()


class RelayBetween:
    """The store, with the relay taking every published event out just after the migration read them."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def find(self, collection: str, filter: Doc | None = None, **kw: Any) -> list[Doc]:
        docs = await self.inner.find(collection, filter, **kw)
        for d in docs:
            await self.inner.drop_outbox(collection, d["_id"], {e["id"] for e in d.get(OUTBOX) or []})
        return docs


E1 = {"id": "e1", "data": {"org": "Rubicon"}}


async def test_a_change_that_leaves_the_outbox_keeps_the_relay_s_removal(store: SqliteStore) -> None:
    await store.insert("c", {"_id": "a", "n": 1, OUTBOX: [E1], PENDING: True})
    await store.insert("c", {"_id": "b", "n": 5})  # no outbox: none is added
    assert await rewrite(RelayBetween(store), "c", lambda d: {**d, "n": d["n"] + 1}) == 2  # type: ignore[arg-type]
    assert await store.get("c", "a") == {"_id": "a", "n": 2, OUTBOX: [], PENDING: False, "version": 2}
    assert await store.get("c", "b") == {"_id": "b", "n": 6, "version": 2}


async def test_a_change_of_the_outbox_itself_is_written_as_changed(store: SqliteStore) -> None:
    await store.insert("c", {"_id": "a", "n": 1, OUTBOX: [E1], PENDING: True})

    def remap(d: Doc) -> Doc:
        return {**d, OUTBOX: [{**e, "data": {"org": "IE05:rubicon"}} for e in d[OUTBOX]]}

    assert await rewrite(store, "c", remap) == 1
    doc = await store.get("c", "a")
    assert doc is not None and doc[OUTBOX] == [{"id": "e1", "data": {"org": "IE05:rubicon"}}] and doc[PENDING]
