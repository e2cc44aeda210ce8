"""Replication lag between two regions: publish in IE05, consume in ITH5 through Kafka MirrorMaker 2.

Two native brokers and one MirrorMaker 2 process (tests/backends.py: the same launchers as the
two-region tests). Events go to IE05's ``<name>.events`` at a steady rate; a consumer on IE05's own
topic (the baseline, measured in the same run on the same events) and a consumer on ITH5's replica
``ie05.<name>.events`` note when each event arrives. Lag = arrival - publish start (one process, one
monotonic clock). Target: replication p99 < 2 s. Writes bench/results/federation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import summary_ms, write_result
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from tests import backends

TARGET_P99_S = 2.0


async def _arrivals(bus: KafkaBus, topic: str, seen: dict[str, float], ready: asyncio.Event) -> None:
    async for d in bus.consume(f"bench-{uuid.uuid4().hex[:6]}", [topic]):
        if d.event is not None:
            seen.setdefault(d.event.id, time.monotonic())
            if d.event.data.get("probe"):
                ready.set()


async def _measure(a: str, b: str, rate: float, seconds: float, warmup: int) -> dict[str, Any]:
    topic = f"bench{uuid.uuid4().hex[:6]}.events"
    replica = f"ie05.{topic}"
    pub = KafkaBus(a, client_id="bench-federation", partitions=3)
    local_bus, remote_bus = KafkaBus(a, client_id="bench-local"), KafkaBus(b, client_id="bench-remote")
    await pub.ensure_topics([topic])
    await pub.start()
    local: dict[str, float] = {}
    remote: dict[str, float] = {}
    local_ready, remote_ready = asyncio.Event(), asyncio.Event()
    probe = CloudEvent(
        type="bench.Probe.v1", source="/regions/IE05/bench", data={"probe": True}, region="IE05", partitionkey="p"
    )
    await pub.publish(topic, [probe])
    deadline = time.monotonic() + 120
    while True:  # MirrorMaker finds the new topic (refresh every 2 s) and creates its replica
        if replica in set(await _topics(b)):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{replica} did not appear in ITH5 within 120 s")
        await asyncio.sleep(0.5)
    tasks = [
        asyncio.create_task(_arrivals(local_bus, topic, local, local_ready)),
        asyncio.create_task(_arrivals(remote_bus, replica, remote, remote_ready)),
    ]
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(local_ready.wait(), remote_ready.wait())
        sent: dict[str, float] = {}
        n = int(rate * seconds)
        start = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            e = CloudEvent(
                type="bench.Tick.v1",
                source="/regions/IE05/bench",
                data={"i": i},
                region="IE05",
                partitionkey=f"k{i % 12}",
            )
            sent[e.id] = time.monotonic()
            await pub.publish(topic, [e])
        async with asyncio.timeout(120):
            while not (set(sent) <= set(local) and set(sent) <= set(remote)):  # noqa: ASYNC110 - consumer tasks fill these
                await asyncio.sleep(0.2)
        ids = list(sent)[warmup:]
        local_lag = [local[i] - sent[i] for i in ids]
        remote_lag = [remote[i] - sent[i] for i in ids]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pub.close()
    loc, rep = summary_ms(local_lag), summary_ms(remote_lag)
    return {
        "rate_per_s": rate,
        "events": n,
        "warmup_discarded": warmup,
        "local_publish_to_consume": loc,
        "replicated_publish_to_consume": rep,
        "ratio_p50": round(rep["p50_ms"] / loc["p50_ms"], 1) if loc["p50_ms"] else None,
        "ratio_p99": round(rep["p99_ms"] / loc["p99_ms"], 1) if loc["p99_ms"] else None,
        "target_p99_ms": TARGET_P99_S * 1000,
        "meets_target": rep["p99_ms"] < TARGET_P99_S * 1000,
    }


async def _topics(bootstrap: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=float, default=50.0, help="events per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--warmup", type=int, default=50, help="first events left out of the figures")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp:
        work = Path(tmp)
        ka, boot_a = backends.native_kafka_region(work, "ie05")
        procs = [ka]
        try:
            kb, boot_b = backends.native_kafka_region(work, "ith5")
            procs.append(kb)
            mm2 = backends.native_mirrormaker(work, {"ie05": boot_a, "ith5": boot_b})
            procs.append(mm2)
            mm2.start()
            result = asyncio.run(_measure(boot_a, boot_b, a.rate, a.seconds, a.warmup))
        finally:
            for proc in reversed(procs):
                proc.stop()
    path = write_result("federation", result)
    loc, rep = result["local_publish_to_consume"], result["replicated_publish_to_consume"]
    print(
        f"federation: {result['events']} events at {a.rate:g}/s; IE05 -> ITH5 through MirrorMaker 2 "
        f"p50 {rep['p50_ms']:.0f} ms, p99 {rep['p99_ms']:.0f} ms; local baseline p50 {loc['p50_ms']:.1f} ms, "
        f"p99 {loc['p99_ms']:.1f} ms (target replicated p99 < 2000 ms: {'met' if result['meets_target'] else 'MISSED'})"
        f"  [{path}]"
    )
    return result


if __name__ == "__main__":
    main()
