"""Mapping benchmarks: cluster-map rebuild throughput and cluster-map query latency.

Rebuild: 100,000 SMEAssessed events (10,000 SMEs, 6 regions x 12 sectors) in the embedded event log,
replayed into a new projection generation; baseline: the live path (one event at a time through
``apply_once``) over a sample of the same events, measured in this run.
Query: p50/p99 of the cluster-map read (statistics and stars for all 72 cells) with those 10,000 SMEs;
baseline: reading the same cell documents without computing anything. Then the same read over a
second store with 100,000 SMEs (one assessment each, rebuilt the same way): the cell aggregates make
the read O(cells), so its p50 should stay within 2x of the p50 at 10,000 (targets: p50 <= 10 ms and
p99 <= 30 ms at 10,000).

A read keeps what it made of each cell by the cell document's version (``handlers.CellReads``), so
the reads above, with no event in between, compute nothing again. Two more series say what that
leaves out: ``cluster_map_after_event`` (one more assessment through the live path before each read,
untimed, so one cell has changed) and ``cluster_map_cold`` (a new handler context each time: nothing
kept, what the first read after a start costs). And ``http``: ``GET /api/v1/mapping/cluster-map`` of the
whole instance (its ASGI app in this process, the same 10,000-SME store copied in as its mapping
database, its relays and consumers running as in production): the read as a client gets it,
authentication, routing and the JSON body included; the same at 100,000 SMEs.

The reads run as in a serving process: its start-up heap frozen out of the cyclic garbage collector
and full collections made rarer (``clustergrowth.httpserver.freeze_startup_heap``, what
``clustergrowth run`` does once its app is built). Unfrozen, a full collection walked ~170,000
objects for 90-190 ms inside whichever read was running; ``http_unfrozen`` measures that in the same
run (CPython's thresholds, nothing frozen), as the baseline of the GETs at 10,000 SMEs. Each series
also records the full (generation 2) collections that ran during it, the longest, and the process's
resident memory before and after it (a growing heap would show there).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import summary_ms, write_result
from clustergrowth.auth import DevIssuer
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.events import make_event
from clustergrowth.httpserver import freeze_startup_heap
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from contracts import mapping as ev
from gateway.app import GatewaySettings
from instance.app import create_app
from services.mapping import consumers
from services.mapping import handlers as h
from services.mapping import store as st
from services.mapping.domain.instrument import latest

CPYTHON_GC_THRESHOLDS = gc.get_threshold()  # before any freeze_startup_heap raises the third
REGIONS = ["ES61", "ES30", "ITH5", "IE05", "FR10", "TR10"]
SECTORS = ["C22", "C24", "C25", "C26", "C27", "C28", "C29", "C30", "C33", "D35", "M71", "M72"]


def make_events(n_events: int, n_smes: int, seed: int = 7, first: int = 0) -> list[Any]:
    """``n_events`` assessments going round ``n_smes`` SMEs, one an hour; ``first`` numbers them on."""
    rng = random.Random(seed)
    dims = [d.id for d in latest().dimensions]
    smes = [
        (f"sme-{i}", rng.choice(REGIONS), rng.choice(SECTORS), rng.choice([5, 20, 45, 90, 200])) for i in range(n_smes)
    ]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n_events):
        sid, region, sector, headcount = smes[i % n_smes]
        scores = {d: round(rng.uniform(1, 5), 2) for d in dims}
        top = sorted(scores, key=lambda d: scores[d])[:3]
        at = (start + timedelta(hours=first + i)).isoformat()
        data = ev.SMEAssessed(
            sme_id=sid,
            assessment_id=f"a-{first + i}",
            region=region,
            nace=f"{sector}.1",
            sector=sector,
            size_class="small",
            headcount=headcount,
            councils=[],
            instrument_version="1",
            scores=scores,
            top_needs=top,
            assessed_at=at,
        )
        out.append(make_event(data, key=sid, region=region, source="/bench/mapping"))
    return out


async def run(n_events: int, n_smes: int, live_sample: int, queries: int, large_smes: int = 0) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-mapping-"))
    bus = SqliteBus(work / "events.sqlite")
    store = SqliteStore(work / "mapping.sqlite")
    events = make_events(n_events, n_smes)
    for i in range(0, len(events), 5000):
        await bus.publish("mapping.events", events[i : i + 5000])

    # Live path baseline: one event at a time, as the consumer does, on a sample into a scratch generation.
    live_store = SqliteStore(work / "live.sqlite")
    projection = consumers.ClusterMapProjection(live_store)
    sample = events[:live_sample]
    t0 = time.perf_counter()
    for e in sample:
        await projection.handle(e)
    live_s = time.perf_counter() - t0
    live_rate = len(sample) / live_s
    sampled = len(sample)
    del events, sample  # the bench's own 100,000 events: not the server's, so not in the reads' GC
    await live_store.close()

    report = await consumers.rebuild(store, bus, ["mapping.events"])
    rebuild_rate = report["events"] / report["seconds"]

    query = await _queries(store, queries, more=make_events(queries, n_smes, first=n_events))
    await bus.close()
    await store.close()
    query["http"] = await _http(work, work / "mapping.sqlite", queries, query["cells"])
    # baseline in the same run: the same GETs by a process that never froze its heap
    query["http_unfrozen"] = await _http(work, work / "mapping.sqlite", queries, query["cells"], frozen=False)
    for series in ("get_cluster_map", "get_cluster_map_cpu"):  # wall, and CPU (steadier on a shared machine)
        query[f"http_ratio_p99_to_unfrozen{series.removeprefix('get_cluster_map')}"] = round(
            query["http"][series]["p99_ms"] / query["http_unfrozen"][series]["p99_ms"], 2
        )
    large = await _query_at(work, large_smes, queries) if large_smes else None
    if large is not None:
        large["http"] = await _http(work, work / f"mapping-{large_smes}.sqlite", queries, large["cells"])
    out: dict[str, Any] = {
        "events": n_events,
        "smes": n_smes,
        "cells": query.pop("cells"),
        "live_path": {"events": sampled, "seconds": round(live_s, 3), "events_per_s": round(live_rate, 1)},
        "rebuild": {**report, "events_per_s_end_to_end": round(rebuild_rate, 1)},
        "rebuild_ratio_to_live": round(rebuild_rate / live_rate, 1),
        "query": query,
    }
    if large is not None:
        out["query_large"] = large
        out["ratio_p50_large_to_base"] = round(large["cluster_map"]["p50_ms"] / query["cluster_map"]["p50_ms"], 2)
        out["ratio_http_p50_large_to_base"] = round(
            large["http"]["get_cluster_map"]["p50_ms"] / query["http"]["get_cluster_map"]["p50_ms"], 2
        )
    return out


class FullCollections:
    """The full (generation 2) collections while it is entered: how many, the longest, and the
    process's resident memory before and after."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._start = 0.0

    def _watch(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._start)

    def __enter__(self) -> FullCollections:
        self.rss_before = _rss_kib()
        gc.callbacks.append(self._watch)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._watch)
        self.rss_after = _rss_kib()

    def report(self) -> dict[str, Any]:
        return {
            "full_collections": len(self.pauses),
            "longest_full_collection_ms": round(max(self.pauses, default=0.0) * 1000, 3),
            "rss_kib_before": self.rss_before,
            "rss_kib_after": self.rss_after,
        }


def _rss_kib() -> int:
    """Resident memory of this process now (Linux), in KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


async def _queries(store: SqliteStore, queries: int, more: list[Any]) -> dict[str, Any]:
    """The read, and the raw read of the cells as its baseline; then the read after one more event
    (from ``more``) each time, and the read by a new context each time."""
    freeze_startup_heap()  # as a serving process does after start-up; the build's garbage collected first
    m = h.Mapping(store, "IE05")
    cells_collection = await st.active_cells(store)
    raw, full, full_cpu = [], [], []
    result: list[dict[str, Any]] = []
    watch = FullCollections()
    with watch:
        for i in range(queries):  # alternate the order so neither side always pays the other's garbage
            for kind in ("raw", "full") if i % 2 == 0 else ("full", "raw"):
                t = time.perf_counter()
                if kind == "raw":
                    await store.find(cells_collection, {})
                    raw.append(time.perf_counter() - t)
                else:
                    c = time.process_time()  # every thread of the process: the store's worker too
                    result = await h.cluster_map(m)
                    full.append(time.perf_counter() - t)
                    full_cpu.append(time.process_time() - c)
    after_event, after_event_cpu, cold, cold_cpu = [], [], [], []
    projection = consumers.ClusterMapProjection(store)
    watch_after = FullCollections()
    with watch_after:
        for e in more:
            await projection.handle(e)  # one cell changes, untimed
            t, c = time.perf_counter(), time.process_time()
            await h.cluster_map(m)
            after_event.append(time.perf_counter() - t)
            after_event_cpu.append(time.process_time() - c)
    watch_cold = FullCollections()
    with watch_cold:
        for _ in range(queries):
            t, c = time.perf_counter(), time.process_time()
            await h.cluster_map(h.Mapping(store, "IE05"))
            cold.append(time.perf_counter() - t)
            cold_cpu.append(time.process_time() - c)
    raw_s, full_s = summary_ms(raw), summary_ms(full)
    return {
        "cells": len(result),
        "cluster_map": full_s,
        # CPU time of the read: what it costs the process, whatever else the shared machine runs
        "cluster_map_cpu": summary_ms(full_cpu),
        "cluster_map_gc": watch.report(),
        "cluster_map_after_event": summary_ms(after_event),
        "cluster_map_after_event_cpu": summary_ms(after_event_cpu),
        "cluster_map_after_event_gc": watch_after.report(),
        "cluster_map_cold": summary_ms(cold),
        "cluster_map_cold_cpu": summary_ms(cold_cpu),
        "cluster_map_cold_gc": watch_cold.report(),
        "raw_read_baseline": raw_s,
        "ratio_p50": round(full_s["p50_ms"] / raw_s["p50_ms"], 2),
        "ratio_p99": round(full_s["p99_ms"] / raw_s["p99_ms"], 2),
    }


async def _http(work: Path, store_file: Path, queries: int, cells: int, frozen: bool = True) -> dict[str, Any]:
    """Wall and CPU time of ``GET /api/v1/mapping/cluster-map`` through the instance's ASGI app; with
    ``frozen`` false, as a process that never froze its heap (everything frozen so far thawed, CPython's
    collection thresholds)."""
    data_dir = work / f"instance-{store_file.stem}{'' if frozen else '-unfrozen'}"
    settings = RuntimeSettings(data_dir=data_dir, seed_demo=False, log_level="WARNING")
    (settings.data_dir / "store").mkdir(parents=True)
    shutil.copyfile(store_file, settings.data_dir / "store" / "mapping.sqlite")
    if not frozen:
        gc.unfreeze()
        gc.set_threshold(*CPYTHON_GC_THRESHOLDS)
    app = create_app(settings, GatewaySettings(rate_limits=False))
    if frozen:
        freeze_startup_heap()  # as clustergrowth run does once its app is built (uvicorn_options)
    wall, cpu = [], []
    watch = FullCollections()
    async with app.router.lifespan_context(app):
        token = DevIssuer(settings.data_dir).mint(settings, "analyst", ["analyst"], "IE05", None)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            first = await client.get("/api/v1/mapping/cluster-map", headers=headers)
            assert first.status_code == 200 and len(first.json()) == cells, first.text[:300]
            with watch:
                for _ in range(queries):
                    t, c = time.perf_counter(), time.process_time()
                    r = await client.get("/api/v1/mapping/cluster-map", headers=headers)
                    wall.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
                    assert r.status_code == 200
    return {
        "get_cluster_map": summary_ms(wall),
        "get_cluster_map_cpu": summary_ms(cpu),
        "gc": watch.report(),
        "body_bytes": len(first.content),
    }


async def _query_at(work: Path, n_smes: int, queries: int) -> dict[str, Any]:
    """The cluster-map read over ``n_smes`` SMEs (one assessment each), built by a rebuild."""
    bus = SqliteBus(work / f"events-{n_smes}.sqlite")
    store = SqliteStore(work / f"mapping-{n_smes}.sqlite")
    events = make_events(n_smes, n_smes, seed=11)
    for i in range(0, len(events), 5000):
        await bus.publish("mapping.events", events[i : i + 5000])
    await consumers.rebuild(store, bus, ["mapping.events"])
    del events
    out = await _queries(store, queries, more=make_events(queries, n_smes, seed=11, first=n_smes))
    await bus.close()
    await store.close()
    return {"smes": n_smes, **out}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--smes", type=int, default=10_000)
    p.add_argument("--live-sample", type=int, default=3_000)
    p.add_argument("--queries", type=int, default=500, help="reads in each series (p99 of 500: the 5th slowest)")
    p.add_argument("--large-smes", type=int, default=100_000, help="the second size (0: skip)")
    a = p.parse_args(argv)
    r = asyncio.run(run(a.events, a.smes, a.live_sample, a.queries, a.large_smes))
    path = write_result("mapping", r)
    print(
        f"mapping rebuild: {r['events']} events in {r['rebuild']['seconds']} s = "
        f"{r['rebuild']['events_per_s_end_to_end']}/s end to end (fold alone {r['rebuild']['events_per_s']}/s); "
        f"live path {r['live_path']['events_per_s']}/s -> x{r['rebuild_ratio_to_live']} "
        f"(targets >= 10x and >= 20,000/s)"
    )
    q = r["query"]
    print(
        f"mapping query: cluster map of {r['cells']} cells with {r['smes']} SMEs p50 {q['cluster_map']['p50_ms']} ms "
        f"p99 {q['cluster_map']['p99_ms']} ms; raw read p50 {q['raw_read_baseline']['p50_ms']} ms "
        f"-> x{q['ratio_p50']} (targets p50 <= 10 ms, p99 <= 30 ms); CPU time p50 {q['cluster_map_cpu']['p50_ms']} ms "
        f"p99 {q['cluster_map_cpu']['p99_ms']} ms  [{path}]"
    )
    print(
        f"mapping query, one cell changed before each read: p50 {q['cluster_map_after_event']['p50_ms']} ms "
        f"p99 {q['cluster_map_after_event']['p99_ms']} ms (CPU p50 {q['cluster_map_after_event_cpu']['p50_ms']} ms); "
        f"nothing kept (a new context): p50 {q['cluster_map_cold']['p50_ms']} ms "
        f"p99 {q['cluster_map_cold']['p99_ms']} ms (CPU p50 {q['cluster_map_cold_cpu']['p50_ms']} ms)"
    )
    _print_http(q["http"], r["smes"])
    _print_http(q["http_unfrozen"], r["smes"], "baseline, heap never frozen")
    print(
        f"GET /cluster-map p99 frozen / never frozen: x{q['http_ratio_p99_to_unfrozen']} "
        f"(CPU x{q['http_ratio_p99_to_unfrozen_cpu']})"
    )
    if "query_large" in r:
        big = r["query_large"]
        print(
            f"mapping query at {big['smes']} SMEs: p50 {big['cluster_map']['p50_ms']} ms "
            f"p99 {big['cluster_map']['p99_ms']} ms -> x{r['ratio_p50_large_to_base']} the p50 at {r['smes']} "
            f"(target <= 2x); CPU time p50 {big['cluster_map_cpu']['p50_ms']} ms"
        )
        _print_http(big["http"], big["smes"])
    return r


def _print_http(web: dict[str, Any], smes: int, what: str = "start-up heap frozen") -> None:
    get, cpu, gcs = web["get_cluster_map"], web["get_cluster_map_cpu"], web["gc"]
    print(
        f"GET /cluster-map through the instance at {smes} SMEs ({what}): p50 {get['p50_ms']} ms p99 {get['p99_ms']} ms "
        f"max {get['max_ms']} ms (CPU p50 {cpu['p50_ms']} ms p99 {cpu['p99_ms']} ms); "
        f"{gcs['full_collections']} full collections, longest {gcs['longest_full_collection_ms']} ms; "
        f"RSS {gcs['rss_kib_before']} -> {gcs['rss_kib_after']} KiB"
    )


if __name__ == "__main__":
    main()
