"""List pages: a page of 50 of 10,000 SMEs, from the store (keyset ``page``) vs the old full load.

Old path, the baseline, measured in this run: what ``GET /smes`` did before store-side cursors: read
every matching SME (``find`` sorted by name), filter and shape them in Python, sort by the page key and
cut the page after the cursor. New path: ``DocumentStore.page`` seeks to the cursor and reads 51
documents (the indexes of ``services.mapping.store``). Both are timed on the first page and on a deep
page (after the 9,000th SME). Each path runs in its own block after an untimed warm-up call: the
store call that follows a full load pays ~25-45 ms for its garbage here, which is the full load's cost.

Store: the embedded SQLite store by default; ``--store ferretdb`` uses FerretDB v1 (SQLite handler).
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


async def run(n: int, limit: int, rounds: int, store_kind: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-paging-"))
    ferret = None
    if store_kind == "ferretdb":
        ferret, url = await asyncio.to_thread(backends.native_ferretdb, work)
        store: DocumentStore = MongoStore(url, f"bench_{uuid.uuid4().hex[:8]}")
    else:
        store = SqliteStore(work / "mapping.sqlite")
    try:
        await st.ensure_indexes(store)
        smes = make_smes(n)
        if isinstance(store, MongoStore):  # one bulk write: FerretDB takes ~10 ms per single insert
            await store._db[st.SMES].insert_many([{**d, "version": 1} for d in smes])
        else:
            for d in smes:
                await store.insert(st.SMES, d)
        ordered = sorted(smes, key=lambda d: (d["legal_name"], d["_id"]))
        deep = page_key(ordered[min(9000, n - 1)], SORT)
        del smes, ordered
        for after in (None, deep):  # both paths serve the same page
            assert [d["id"] for d in await old_page(store, after, limit)] == [
                d["id"] for d in await new_page(store, after, limit)
            ]
        times: dict[str, list[float]] = {}
        for kind, fn in (("old", old_page), ("new", new_page), ("old", old_page), ("new", new_page)):
            for where, after in (("first", None), ("deep", deep)):
                await fn(store, after, limit)  # warm-up, untimed
                for _ in range(rounds // 2):
                    gc.collect()
                    t = time.perf_counter()
                    await fn(store, after, limit)
                    times.setdefault(f"{kind}_{where}", []).append(time.perf_counter() - t)
    finally:
        await store.close()
        if ferret:
            ferret.stop()
    s = {k: summary_ms(v) for k, v in times.items()}
    return {
        "store": store_kind,
        "smes": n,
        "limit": limit,
        "first_page": {"full_load_baseline": s["old_first"], "store_page": s["new_first"]},
        "deep_page": {"full_load_baseline": s["old_deep"], "store_page": s["new_deep"]},
        "speedup_p50_first": round(s["old_first"]["p50_ms"] / s["new_first"]["p50_ms"], 1),
        "speedup_p50_deep": round(s["old_deep"]["p50_ms"] / s["new_deep"]["p50_ms"], 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smes", type=int, default=10_000)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--store", choices=["sqlite", "ferretdb"], default="sqlite")
    a = p.parse_args(argv)
    r = asyncio.run(run(a.smes, a.limit, a.rounds, a.store))
    path = write_result("paging" if a.store == "sqlite" else f"paging-{a.store}", r)
    f, d = r["first_page"], r["deep_page"]
    print(
        f"paging on {a.store}: a page of {r['limit']} of {r['smes']} SMEs; first page p50 {f['store_page']['p50_ms']} "
        f"ms (full load {f['full_load_baseline']['p50_ms']} ms, x{r['speedup_p50_first']}); "
        f"deep page p50 {d['store_page']['p50_ms']} ms (full load {d['full_load_baseline']['p50_ms']} ms, "
        f"x{r['speedup_p50_deep']})  [{path}]"
    )
    return r


if __name__ == "__main__":
    main()
