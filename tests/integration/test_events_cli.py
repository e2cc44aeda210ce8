"""``clustergrowth events`` against a real Kafka broker: --from (earliest, latest, a time through
offsets_for_times), --until, --max and a consumer group that goes on where it stopped. Records are
written with known timestamps (one a minute) over three partitions; expected ids are written by hand."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from aiokafka import AIOKafkaProducer

from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from instance.cli import main

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def event(n: int) -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.facilities.DeskBooked.v1",
        source="/regions/IE05/facilities",
        data={"n": n},
        region="IE05",
        partitionkey=f"k{n % 3}",
        id=f"e{n}",
        time=at(n).isoformat(),
    )


@pytest.fixture
def prefix(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A topic namespace holding e1..e12 on facilities.events, the CLI pointed at it."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}facilities.events"

    async def write() -> None:
        bus = KafkaBus(kafka_bootstrap, partitions=3)
        await bus.ensure_topics([topic])
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for n in range(1, 13):
                key, value, headers = event(n).to_kafka()
                ms = int(at(n).timestamp() * 1000)
                await (await producer.send(topic, value=value, key=key, headers=headers, timestamp_ms=ms))
        finally:
            await producer.stop()

    asyncio.run(write())
    monkeypatch.setenv("CG_BUS", "kafka")
    monkeypatch.setenv("CG_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("CG_TOPIC_PREFIX", prefix)
    return prefix


def run(capsys: pytest.CaptureFixture[str], prefix: str, *args: str) -> list[str]:
    assert main(["events", "--topic", f"{prefix}facilities.events", *args]) == 0
    return [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]


ALL = [f"e{n}" for n in range(1, 13)]


def by_key(ids: list[str]) -> dict[int, list[int]]:
    """Ids per key (n mod 3), in the order read: a key's events keep their order."""
    out: dict[int, list[int]] = {}
    for i in ids:
        out.setdefault(int(i[1:]) % 3, []).append(int(i[1:]))
    return out


def test_reads_from_where_it_is_told(prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    everything = run(capsys, prefix)
    assert sorted(everything) == sorted(ALL) and len(everything) == 12
    assert by_key(everything) == {1: [1, 4, 7, 10], 2: [2, 5, 8, 11], 0: [3, 6, 9, 12]}
    assert sorted(run(capsys, prefix, "--from", at(6).isoformat())) == sorted(f"e{n}" for n in range(6, 13))
    just_after = (at(6) + timedelta(milliseconds=1)).isoformat()
    assert sorted(run(capsys, prefix, "--from", just_after)) == sorted(f"e{n}" for n in range(7, 13))
    assert run(capsys, prefix, "--from", at(13).isoformat()) == []
    assert run(capsys, prefix, "--from", "latest") == []
    assert sorted(run(capsys, prefix, "--until", at(6).isoformat())) == sorted(f"e{n}" for n in range(1, 7))
    assert len(run(capsys, prefix, "--max", "4")) == 4


def test_a_group_goes_on_where_it_stopped(prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    group = f"{prefix}analytics"
    first = run(capsys, prefix, "--group", group, "--max", "5")
    assert len(first) == 5
    rest = run(capsys, prefix, "--group", group)
    assert sorted(first + rest) == sorted(ALL) and len(rest) == 7
    assert run(capsys, prefix, "--group", group) == []
    assert len(run(capsys, prefix, "--group", group, "--from", "earliest")) == 12  # rewound on request


def test_export_reads_the_range_from_kafka_once(
    prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lake"
    args = ["export", "--out", str(out), "--since", at(3).isoformat(), "--until", at(7).isoformat(), "--quiet"]
    for _ in range(2):  # re-run: nothing doubled
        assert main([*args, "--data-dir", str(tmp_path)]) == 0
        assert json.loads(capsys.readouterr().out)["events"] == 4
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("id").to_pylist()) == ["e3", "e4", "e5", "e6"]
    assert set(table.column("date").to_pylist()) == {"2026-03-02"}
    assert set(table.column("topic").to_pylist()) == {f"{prefix}facilities.events"}


def test_follow_prints_records_published_after_it_started(
    prefix: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from a time after every record, --follow, --max 2: whenever the reader takes its position (before or
    after the new records land), it prints e13 and e14 and stops."""
    topic = f"{prefix}facilities.events"
    done: list[int] = []
    thread = threading.Thread(
        target=lambda: done.append(
            main(["events", "--topic", topic, "--from", at(13).isoformat(), "--follow", "--max", "2"])
        )
    )
    thread.daemon = True  # a reader that never ends must not keep the test process alive
    thread.start()

    async def more() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for n in (13, 14):
                key, value, headers = event(n).to_kafka()
                ms = int(at(n).timestamp() * 1000)
                await (await producer.send(topic, value=value, key=key, headers=headers, timestamp_ms=ms))
        finally:
            await producer.stop()

    asyncio.run(more())
    thread.join(timeout=60)
    assert done == [0], capsys.readouterr()
    assert sorted(json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()) == ["e13", "e14"]


def test_a_topic_not_in_the_cluster_is_an_error_naming_it(prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Not in the cluster's metadata and not one of the region's own: refused. One of the region's own
    not created yet (nothing published on it): read, and the read says it found nothing."""
    missing = f"{prefix}ie05.facilities.events"
    assert main(["events", "--topic", missing]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"clustergrowth events: --topic '{missing}': no such topic in the cluster's")
    assert f"this region's own: {prefix}councils.events, {prefix}facilities.events," in err
    assert main(["events", "--topic", f"{prefix}facilities.events", "--topic", missing]) == 2
    assert f"--topic '{missing}': no such topic" in capsys.readouterr().err
    assert main(["events", "--topic", f"{prefix}councils.events"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"clustergrowth events: no events in {prefix}councils.events from the beginning to the end of the log\n"
    )
