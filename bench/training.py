"""Training benchmarks: the peer-benchmark query at 100,000 assessments in the projection, and the
projection's rebuild rate, each as a ratio against a baseline measured in the same run.

- Query: p50/p99 of an SME's benchmark (its contribution, the five groups of its ladder and their nested
  groups, disclosure control) at 100,000 assessed SMEs, against the same query at 1,000 (the projection
  answers in O(groups), so the ratio should stay near 1) and against computing the same peer mean by
  scanning the firms' contributions (what O(firms) would cost).
- Rebuild: 100,000 ``PracticesAssessed`` events replayed from the embedded log into a new generation,
  against the live path (one event at a time through ``apply_once``) over a sample of the same events.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import summary_ms, write_result
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.events import make_event
from clustergrowth.store.sqlite import SqliteStore
from contracts import training as ev
from services.training import projection as pj
from services.training.domain.benchmark import country_of, section_of
from services.training.domain.instrument import latest
from services.training.handlers import Training
from services.training.handlers.benchmarks import against_peers

REGIONS = {
    "ES61": "Málaga",
    "ES30": "Alcalá de Henares",
    "ITH5": "Bologna",
    "IE05": "Cork",
    "FR10": "Paris",
    "TR10": "Istanbul",
}
DIVISIONS = ["C22", "C24", "C25", "C26", "C27", "C28", "C29", "C30", "C33", "D35", "M71", "M72"]
SIZES = ["micro", "small", "medium"]


def make_assessments(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """n SMEs, one WMS assessment each, spread over 6 regions x 12 divisions x 3 size classes."""
    rng = random.Random(seed)
    practices = latest("wms").practice_ids
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        region = rng.choice(list(REGIONS))
        division = rng.choice(DIVISIONS)
        scores = {p: float(rng.randint(1, 5)) for p in practices}
        out.append(
            {
                "_id": f"as-{i}",
                "sme_id": f"sme-{i}",
                "instrument": "wms",
                "region": region,
                "country": country_of(region),
                "nace_division": division,
                "nace_section": section_of(division),
                "size_class": rng.choice(SIZES),
                "councils": [REGIONS[region]],
                "scale": {"min": 1.0, "max": 5.0},
                "scores": scores,
                "overall": round(sum(scores.values()) / len(scores), 2),
                "assessed_at": (start + timedelta(seconds=i)).isoformat(),
            }
        )
    return out


def event(a: dict[str, Any]) -> Any:
    data = ev.PracticesAssessed(
        assessment_id=a["_id"],
        sme_id=a["sme_id"],
        instrument="wms",
        instrument_version="1",
        region=a["region"],
        country=a["country"],
        nace_division=a["nace_division"],
        nace_section=a["nace_section"],
        size_class=a["size_class"],
        councils=a["councils"],
        scores=a["scores"],
        areas={},
        overall=a["overall"],
        previous_assessment_id=None,
        assessed_at=a["assessed_at"],
    )
    return make_event(data, key=a["sme_id"], region=a["region"], source="/bench/training")


async def projected(work: Path, name: str, assessments: list[dict[str, Any]]) -> tuple[SqliteStore, dict[str, Any]]:
    """A store whose live projection was rebuilt from a log holding these assessments."""
    bus = SqliteBus(work / f"{name}-events.sqlite")
    events = [event(a) for a in assessments]
    await bus.ensure_topics([ev.TOPIC])
    for i in range(0, len(events), 5000):
        await bus.publish(ev.TOPIC, events[i : i + 5000])
    store = SqliteStore(work / f"{name}.sqlite")
    report = await pj.rebuild(store, bus)
    await bus.close()
    return store, report


async def timed_queries(store: SqliteStore, sample: list[dict[str, Any]]) -> tuple[list[float], list[str]]:
    t = Training(store, "IE05")
    times, levels = [], []
    for a in sample:
        t0 = time.perf_counter()
        answer = await against_peers(t, a)
        times.append(time.perf_counter() - t0)
        levels.append(answer["group"]["level"] if answer["group"] else "none")
    return times, levels


async def firm_scan(store: SqliteStore, a: dict[str, Any]) -> float:
    """The O(firms) baseline: the peer mean of the SME's narrowest cell from every firm's contribution."""
    collection = await pj.live_collection(store)
    gid = f"wms|division_region_size|{a['nace_division']}|{a['region']}|{a['size_class']}"
    t0 = time.perf_counter()
    firms = await store.find(collection, {"kind": "contribution"})
    peers = [
        f["contribution"]["overall"] for f in firms if gid in f["contribution"]["groups"] and f["sme_id"] != a["sme_id"]
    ]
    _ = sum(peers) / max(len(peers), 1)
    return time.perf_counter() - t0


async def run(n: int, small: int, live_sample: int, queries: int, scans: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    assessments = make_assessments(n)
    rng = random.Random(5)

    # live path baseline: one event at a time, as the consumer does
    live_store = SqliteStore(work / "live.sqlite")
    live = pj.PeerProjection(live_store)
    sample_events = [event(a) for a in assessments[:live_sample]]
    t0 = time.perf_counter()
    for e in sample_events:
        await live.handle(e)
    live_s = time.perf_counter() - t0
    await live_store.close()

    big, report = await projected(work, "big", assessments)
    rebuild_rate = report["events"] / report["seconds"]
    little, _ = await projected(work, "small", assessments[:small])

    pick_big = rng.sample(assessments, queries)
    pick_small = rng.sample(assessments[:small], queries)
    big_t: list[float] = []
    small_t: list[float] = []
    levels_big: list[str] = []
    for i in range(queries):  # interleaved, so that neither side always pays the other's garbage
        order = [("big", big, pick_big[i]), ("small", little, pick_small[i])]
        for kind, store, a in order if i % 2 == 0 else order[::-1]:
            ts, lv = await timed_queries(store, [a])
            (big_t if kind == "big" else small_t).extend(ts)
            if kind == "big":
                levels_big += lv
    scan_t = [await firm_scan(big, a) for a in pick_big[:scans]]
    await big.close()
    await little.close()
    q_big, q_small, q_scan = summary_ms(big_t), summary_ms(small_t), summary_ms(scan_t)
    return {
        "assessments": n,
        "groups": report["documents"] - n,
        "live_path": {
            "events": live_sample,
            "seconds": round(live_s, 3),
            "events_per_s": round(live_sample / live_s, 1),
        },
        "rebuild": {**report, "events_per_s_end_to_end": round(rebuild_rate, 1)},
        "rebuild_ratio_to_live": round(rebuild_rate / (live_sample / live_s), 1),
        "query": {
            f"at_{n}": q_big,
            f"at_{small}_baseline": q_small,
            "ratio_p50_to_small": round(q_big["p50_ms"] / q_small["p50_ms"], 2),
            "firm_scan_baseline": q_scan,
            "firm_scan_over_query_p50": round(q_scan["p50_ms"] / q_big["p50_ms"], 1),
            "levels_answered": {lv: levels_big.count(lv) for lv in sorted(set(levels_big))},
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--assessments", type=int, default=100_000)
    p.add_argument("--small", type=int, default=1_000)
    p.add_argument("--live-sample", type=int, default=2_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--scans", type=int, default=5)
    a = p.parse_args(argv)
    r = asyncio.run(run(a.assessments, a.small, a.live_sample, a.queries, a.scans))
    path = write_result("training", r)
    q = r["query"]
    big, small = q[f"at_{a.assessments}"], q[f"at_{a.small}_baseline"]
    print(
        f"training rebuild: {r['assessments']} events in {r['rebuild']['seconds']} s = "
        f"{r['rebuild']['events_per_s_end_to_end']}/s end to end; live path {r['live_path']['events_per_s']}/s "
        f"-> x{r['rebuild_ratio_to_live']}"
    )
    print(
        f"training benchmark query at {r['assessments']} assessments ({r['groups']} groups): p50 {big['p50_ms']} ms "
        f"p99 {big['p99_ms']} ms; at {a.small}: p50 {small['p50_ms']} ms -> x{q['ratio_p50_to_small']}; "
        f"scanning the firms instead: p50 {q['firm_scan_baseline']['p50_ms']} ms (x{q['firm_scan_over_query_p50']})  "
        f"[{path}]"
    )
    return r


if __name__ == "__main__":
    main()
