"""Event latency: publish->consume through the outbox vs a bare aiokafka produce->consume pipe.

Both run in this process against the same native Kafka broker, at a steady rate, with ``acks="all"``.
Baseline: the clock starts just before ``producer.send``. Outbox: the clock starts just before the
one guarded document write that stores state and event together; the relay then publishes and
removes the event. Both end when a consumer receives it.

Store: the embedded SQLite store by default. ``--store ferretdb`` uses FerretDB v1 (SQLite handler),
whose updates cost ~12 ms each on this machine and are serialised, so it cannot sustain 200 writes/s
plus their outbox removals; use a lower ``--rate`` with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import summary_ms, write_result
from clustergrowth import aggregate
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.outbox import OutboxRelay
from clustergrowth.store.mongo import MongoStore
from clustergrowth.store.port import DocumentStore
from clustergrowth.store.sqlite import SqliteStore
from tests import backends


async def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await c.start()
    return c


async def _receive(c: AIOKafkaConsumer, n: int, lat: list[float], t0_of: Any) -> None:
    while len(lat) < n:
        batch = await c.getmany(timeout_ms=100)
        now = time.time()
        for msgs in batch.values():
            for m in msgs:
                lat.append(now - t0_of(m))
        if batch:
            await c.commit()


async def _paced(n: int, rate: float, send: Any) -> None:
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(i)


async def bare_pipe(bootstrap: str, n: int, rate: float) -> list[float]:
    topic = f"bench-bare-{uuid.uuid4().hex[:6]}"
    await KafkaBus(bootstrap).ensure_topics([topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)
    await producer.start()
    consumer = await _consumer(bootstrap, topic)
    lat: list[float] = []
    try:
        recv = asyncio.create_task(_receive(consumer, n, lat, lambda m: json.loads(m.value)["t0"]))

        async def send(i: int) -> None:
            t0 = time.time()
            await producer.send(topic, json.dumps({"i": i, "t0": t0}).encode(), key=str(i % 16).encode())

        await _paced(n, rate, send)
        await asyncio.wait_for(recv, 60)
    finally:
        await producer.stop()
        await consumer.stop()
    return lat


async def through_outbox(bootstrap: str, store: DocumentStore, n: int, rate: float) -> list[float]:
    topic = f"bench-outbox-{uuid.uuid4().hex[:6]}"
    await store.ensure_index("things", ["outbox_pending"])
    bus = KafkaBus(bootstrap, client_id="bench-relay")
    await bus.ensure_topics([topic])
    await bus.start()
    relay = OutboxRelay("bench", store, bus, {"things": topic}, interval_s=0.5)
    relay_task = asyncio.create_task(relay.run())
    consumer = await _consumer(bootstrap, topic)
    lat: list[float] = []
    try:
        recv = asyncio.create_task(_receive(consumer, n, lat, lambda m: json.loads(m.value)["t0"]))

        async def send(i: int) -> None:
            t0 = time.time()
            event = CloudEvent(
                type="eu.smeclustergrowth.bench.Thing.v1",
                source="/bench",
                data={"i": i, "t0": t0},
                region="IE05",
                partitionkey=f"thing-{i}",
            )
            await aggregate.save(
                store,
                "things",
                {"_id": f"thing-{i}", "i": i},
                [event],
                expected_version=None,
                on_saved=relay.notify,
            )

        await _paced(n, rate, send)
        await asyncio.wait_for(recv, 120)
    finally:
        relay.stop()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await consumer.stop()
        await bus.close()
        await store.close()
    return lat


async def run(n: int, rate: float, store_kind: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    kafka, bootstrap = await asyncio.to_thread(backends.native_kafka, work)
    ferret = None
    if store_kind == "ferretdb":
        ferret, mongo_url = await asyncio.to_thread(backends.native_ferretdb, work)
        store: DocumentStore = MongoStore(mongo_url, f"bench_{uuid.uuid4().hex[:8]}", write_locks=True)
    else:
        store = SqliteStore(work / "outbox.sqlite")
    try:
        await bare_pipe(bootstrap, min(n, 200), rate)  # warm-up: JIT, metadata, connections
        bare = summary_ms(await bare_pipe(bootstrap, n, rate))
        outbox = summary_ms(await through_outbox(bootstrap, store, n, rate))
    finally:
        if ferret:
            ferret.stop()
        kafka.stop()
    return {
        "store": store_kind,
        "rate_per_s": rate,
        "events": n,
        "acks": "all",
        "bare_pipe": bare,
        "outbox": outbox,
        "ratio_p50": round(outbox["p50_ms"] / bare["p50_ms"], 2),
        "ratio_p99": round(outbox["p99_ms"] / bare["p99_ms"], 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=4000)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--store", choices=["sqlite", "ferretdb"], default="sqlite")
    a = p.parse_args(argv)
    result = asyncio.run(run(a.events, a.rate, a.store))
    path = write_result("latency" if a.store == "sqlite" else f"latency-{a.store}", result)
    b, o = result["bare_pipe"], result["outbox"]
    print(
        f"latency @ {a.rate:.0f}/s acks=all, outbox on {a.store}: "
        f"bare pipe p50 {b['p50_ms']} ms p99 {b['p99_ms']} ms; "
        f"outbox p50 {o['p50_ms']} ms p99 {o['p99_ms']} ms"
    )
    print(f"latency: outbox/bare p50 x{result['ratio_p50']}, p99 x{result['ratio_p99']} (target p99 <= 3x)  [{path}]")
    return result


if __name__ == "__main__":
    main()
