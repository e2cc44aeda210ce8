"""List pages: ``GET /smes`` pages of 50 at 1,000 and at 100,000 SMEs, from the store (keyset ``page``).

A page is what the route reads: ``DocumentStore.page`` seeks to the cursor and reads 51 documents (the
indexes of ``services.mapping.store``), shaped as the route does. At each size the first page and the
50th page (after 2,450 SMEs; at 1,000 SMEs there are 20 pages, so the last one) are timed, each in its
own block after an untimed warm-up call. Target: the 50th page at 100,000 within 1.5x of the first page
at 1,000 (a page costs its own documents, not the collection's size). For reference, at 1,000 SMEs the
old path is timed too: what the route did before store-side cursors (every match read, filtered,
shaped, sorted and cut in Python).

Store: the embedded SQLite store by default; ``--store ferretdb`` uses FerretDB v1 (SQLite handler).
FerretDB's SMEs are loaded in bulk (``insert_many`` of the documents as ``MongoStore.insert`` stores
them, ``version`` 1), and its 50th page at 100,000 is reached by the cursor taken from the sorted data
and checked against it rather than by walking 49 pages: FerretDB v1.24's SQLite backend pushes down
only an ``_id`` equality, so every sorted or filtered query reads, decodes and sorts the whole
collection in Go (measured here 1 to 2 ms per SME on the shared machine), and a walk to page 50 of
100,000 would take the best part of an hour. Its default is 3 rounds for the same reason.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import summary_ms, write_result
from clustergrowth.store.mongo import MongoStore
from clustergrowth.store.port import Doc, DocumentStore, page_key
from clustergrowth.store.sqlite import SqliteStore
from services.mapping import store as st
from tests import backends

SORT = [("legal_name", 1)]
REGIONS = ["ES61", "ES30", "ITH5", "IE05", "FR10", "TR10"]


def make_smes(n: int, seed: int = 11) -> list[Doc]:
    rng = random.Random(seed)
    words = ["Acme", "Nova", "Delta", "Iber", "Celt", "Anatol", "Lumen", "Ferro", "Agro", "Tecno", "Mar", "Sol"]
    out = []
    for i in range(n):
        name = f"{rng.choice(words)} {rng.choice(words)} {rng.randrange(10_000):04d} S.L."
        out.append(
            {
                "_id": f"sme-{i:06x}",
                "legal_name": name,
                "region": rng.choice(REGIONS),
                "sector": rng.choice(["C22", "C25", "C28", "M72"]),
                "nace_primary": "C25.1",
                "headcount": rng.choice([5, 20, 45, 90, 200]),
                "size_class": "small",
                "councils": [],
                "consent": {"data_processing": True, "recorded_at": "2026-01-01T00:00:00+00:00"},
                "organisation": f"org-{i % 400}",
                "created_by": f"person-{i % 900}",
                "registered_at": "2026-01-01T00:00:00+00:00",
                "assessments": [
                    {"id": f"asm-{i}-{k}", "scores": {f"d{j}": 3.0 for j in range(8)}, "assessed_at": "2026-01-02"}
                    for k in range(2)
                ],
            }
        )
    return out


def _public(d: Doc) -> Doc:
    return {"id": d["_id"], **{k: v for k, v in d.items() if k not in ("_id", "outbox", "outbox_pending", "version")}}


async def old_page(store: DocumentStore, after: list[Any] | None, limit: int) -> list[Doc]:
    """The route before: every match read, filtered, shaped, sorted by the page key, then cut."""
    docs = [_public(d) for d in await store.find(st.SMES, {}, sort=SORT) if not d.get("erased")]
    keyed = sorted(((str(d.get("legal_name") or ""), d["id"]), d) for d in docs)
    if after is not None:
        keyed = [(k, d) for k, d in keyed if list(k) > after]
    return [d for _, d in keyed[: limit + 1]]


async def new_page(store: DocumentStore, after: list[Any] | None, limit: int) -> list[Doc]:
    """The route now: the store seeks to the cursor and reads limit + 1 documents."""
    return [_public(d) for d in await store.page(st.SMES, {"erased": {"$ne": True}}, SORT, after, limit + 1)]


async def _store(kind: str, work: Path, n: int) -> tuple[DocumentStore, Any, float]:
    ferret = None
    if kind == "ferretdb":
        ferret, url = await asyncio.to_thread(backends.native_ferretdb, work / f"ferret-{n}")
        store: DocumentStore = MongoStore(url, f"bench_{uuid.uuid4().hex[:8]}")
    else:
        store = SqliteStore(work / f"mapping-{n}.sqlite")
    await st.ensure_indexes(store)
    smes = make_smes(n)
    t = time.perf_counter()
    if isinstance(store, MongoStore):  # bulk writes: FerretDB takes ~10 ms per single insert
        for i in range(0, n, 5000):  # the stored shape of MongoStore.insert: the document and version 1
            await store._db[st.SMES].insert_many([{**d, "version": 1} for d in smes[i : i + 5000]])
    else:
        for d in smes:
            await store.insert(st.SMES, d)
    return store, ferret, time.perf_counter() - t


async def _prepared(
    n: int, limit: int, kind: str, work: Path
) -> tuple[DocumentStore, Any, int, list[Any] | None, float]:
    """A store of ``n`` SMEs, the cursor of its 50th page (or last) reached by following the pages (on
    FerretDB past 10,000 SMEs taken from the sorted data: see the module's note), and the load's seconds."""
    store, ferret, load_s = await _store(kind, work, n)
    ordered = sorted(make_smes(n), key=lambda d: (d["legal_name"], d["_id"]))
    page_no = min(50, -(-n // limit))
    after = page_key(ordered[(page_no - 1) * limit - 1], SORT) if page_no > 1 else None
    if kind == "sqlite" or n <= 10_000:
        walked: list[Any] | None = None  # as a client does: each page's last key is the next cursor
        for _ in range(page_no - 1):
            got = await new_page(store, walked, limit)
            walked = [got[limit - 1]["legal_name"], got[limit - 1]["id"]]
        assert walked == after, "the walked cursor is the expected one"
    assert [d["id"] for d in await new_page(store, after, limit)][:limit] == [
        d["_id"] for d in ordered[(page_no - 1) * limit : page_no * limit]
    ]
    return store, ferret, page_no, after, load_s


async def run(small: int, large: int, limit: int, rounds: int, store_kind: str) -> dict[str, Any]:
    """Both stores are open together and every round times each page once, in turn, so that the load of a
    shared machine falls on both sizes alike."""
    work = Path(tempfile.mkdtemp(prefix="bench-paging-"))
    s_store, s_ferret, s_no, s_after, s_load = await _prepared(small, limit, store_kind, work)
    l_store, l_ferret, l_no, l_after, l_load = await _prepared(large, limit, store_kind, work)
    cases = {
        "small_first": (new_page, s_store, None),
        "small_page_n": (new_page, s_store, s_after),
        "large_first": (new_page, l_store, None),
        "large_page_n": (new_page, l_store, l_after),
    }
    times: dict[str, list[float]] = {k: [] for k in [*cases, "small_full_load_first"]}
    try:
        for fn, store, after in cases.values():
            await fn(store, after, limit)  # warm-up, untimed
        for _ in range(rounds):
            for name, (fn, store, after) in cases.items():
                gc.collect()
                t = time.perf_counter()
                await fn(store, after, limit)
                times[name].append(time.perf_counter() - t)
        # the old path last, in its own block: the call after a full load pays for its garbage
        for _ in range(max(5, rounds // 4)):
            gc.collect()
            t = time.perf_counter()
            await old_page(s_store, None, limit)
            times["small_full_load_first"].append(time.perf_counter() - t)
    finally:
        for store, ferret in ((s_store, s_ferret), (l_store, l_ferret)):
            await store.close()
            if ferret:
                ferret.stop()
    m = {k: summary_ms(v) for k, v in times.items()}
    return {
        "store": store_kind,
        "limit": limit,
        "small": {
            "smes": small,
            "page_number": s_no,
            "first_page": m["small_first"],
            "page_n": m["small_page_n"],
            "full_load_baseline_first": m["small_full_load_first"],
        },
        "large": {"smes": large, "page_number": l_no, "first_page": m["large_first"], "page_n": m["large_page_n"]},
        "load_s": {"small": round(s_load, 1), "large": round(l_load, 1)},
        "ratio_large_page_n_to_small_first_p50": round(m["large_page_n"]["p50_ms"] / m["small_first"]["p50_ms"], 2),
        "speedup_p50_first_small_vs_full_load": round(
            m["small_full_load_first"]["p50_ms"] / m["small_first"]["p50_ms"], 1
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--small", type=int, default=1_000)
    p.add_argument("--large", type=int, default=100_000)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--rounds", type=int, help="timed rounds (default 60; 3 on FerretDB)")
    p.add_argument("--store", choices=["sqlite", "ferretdb"], default="sqlite")
    a = p.parse_args(argv)
    rounds = a.rounds or (3 if a.store == "ferretdb" else 60)
    r = asyncio.run(run(a.small, a.large, a.limit, rounds, a.store))
    path = write_result("paging" if a.store == "sqlite" else f"paging-{a.store}", r)
    sm, lg = r["small"], r["large"]
    print(
        f"paging on {a.store} (pages of {r['limit']}): {sm['smes']} SMEs "
        f"first page p50 {sm['first_page']['p50_ms']} ms "
        f"(full load {sm['full_load_baseline_first']['p50_ms']} ms), page {sm['page_number']} "
        f"{sm['page_n']['p50_ms']} ms; {lg['smes']} SMEs first page {lg['first_page']['p50_ms']} ms, "
        f"page {lg['page_number']} {lg['page_n']['p50_ms']} ms (p99 {lg['page_n']['p99_ms']}) "
        f"-> x{r['ratio_large_page_n_to_small_first_p50']} the first page at {sm['smes']} (target <= 1.5)  [{path}]"
    )
    return r


if __name__ == "__main__":
    main()
