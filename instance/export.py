"""``clustergrowth export``: the region's events of a time range as Parquet files, partitioned the Hive way
by producing region, event type and day: ``<out>/region=IE05/type=<versioned type>/date=2026-03-02/
events.parquet``.

Re-runnable without duplicates: each partition is one file, and an export merges what it found with the
file already there by event id (the newer copy of an id wins), then replaces the file (written aside and
renamed). Running the same range twice, or overlapping ranges, leaves every event once.

The range is by the events' own time, ``since`` included, ``until`` excluded. On Kafka the read starts at
the first record published at or after ``since`` (an event is published after it happened) and goes to
the end of the log as it was at the start; the embedded log is read whole. Columns: id, time (UTC
timestamp), source, subject, partitionkey, specversion, traceparent, requestid, topic and data (the
event data as a JSON string: ``json_extract(data, '$.person_region')`` in DuckDB); region, type and date
come from the folders.

An export that finds nothing in its range says so (``nothing_found``), with the range searched and the
times of the events it did read, so that a range that misses the data is seen at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from instance.events import Reading, Start, read

FILE = "events.parquet"
FLUSH_ROWS = 100_000  # rows held in memory before partitions are merged into their files
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("subject", pa.string()),
        ("partitionkey", pa.string()),
        ("specversion", pa.string()),
        ("traceparent", pa.string()),
        ("requestid", pa.string()),
        ("topic", pa.string()),
        ("data", pa.string()),
    ]
)
Partition = tuple[str, str, str]  # region, type, date


@dataclass(frozen=True)
class Exported:
    """What an export read and wrote."""

    events: int
    partitions: dict[str, int]  # partition folder -> rows in its file now
    read: int = 0  # events read, in the range or not
    first: datetime | None = None  # the earliest and latest time among them
    last: datetime | None = None


def nothing_found(done: Exported, since: datetime, until: datetime, topics: list[str], typed: bool = False) -> str:
    """The message of an export that wrote nothing: the range searched and what the log held (of the
    type asked for, when ``typed``)."""
    kind = " of that type" if typed else ""
    text = (
        f"no events{kind} from {since.isoformat()} (included) to {until.isoformat()} (excluded) in {', '.join(topics)}"
    )
    if done.first is not None and done.last is not None:
        dated = f"from {done.first.isoformat()} to {done.last.isoformat()}"
        return f"{text}; read {done.read} event{'' if done.read == 1 else 's'}{kind}, dated {dated}"
    return f"{text}; the log holds none{kind}"


def partition_dir(p: Partition) -> str:
    region, kind, date = p
    return f"region={region}/type={kind}/date={date}"


def _row(topic: str, event: CloudEvent, when: datetime) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": when,
        "source": event.source,
        "subject": event.subject,
        "partitionkey": event.partitionkey,
        "specversion": event.specversion,
        "traceparent": event.traceparent,
        "requestid": event.requestid,
        "topic": topic,
        "data": json.dumps(event.data, ensure_ascii=False, sort_keys=True),
    }


def _merge(folder: Path, rows: list[dict[str, Any]]) -> int:
    """Merge rows into the partition's file by id (these win), sorted by time then id; returns its size."""
    path = folder / FILE
    by_id: dict[str, dict[str, Any]] = {}
    if path.exists():
        for old in pq.read_table(path, schema=SCHEMA).to_pylist():
            by_id[old["id"]] = old
    for r in rows:
        by_id[r["id"]] = r
    merged = sorted(by_id.values(), key=lambda r: (r["time"], r["id"]))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{FILE}.tmp"
    pq.write_table(pa.Table.from_pylist(merged, schema=SCHEMA), tmp, compression="zstd")
    os.replace(tmp, path)
    return len(merged)


class Collector:
    """Keeps the range's events by partition and merges them into the files, at most FLUSH_ROWS at a time."""

    def __init__(self, out: Path, since: datetime, until: datetime, bar: Any) -> None:
        self.out, self.since, self.until, self.bar = out, since, until, bar
        self.pending: dict[Partition, list[dict[str, Any]]] = defaultdict(list)
        self.held = 0
        self.events = 0
        self.partitions: dict[str, int] = {}
        self.read = 0
        self.first: datetime | None = None
        self.last: datetime | None = None

    def __call__(self, topic: str, event: CloudEvent) -> None:
        self.bar.update(1)
        try:
            when = datetime.fromisoformat(event.time)
        except ValueError:
            return
        if when.tzinfo is None:
            return
        self.read += 1
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)
        if not (self.since <= when < self.until):
            return
        date = when.astimezone(self.since.tzinfo).date().isoformat()
        self.pending[(event.region or "unknown", event.type, date)].append(_row(topic, event, when))
        self.held += 1
        self.events += 1
        if self.held >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for p, rows in sorted(self.pending.items()):
            self.partitions[partition_dir(p)] = _merge(self.out / partition_dir(p), rows)
        self.pending.clear()
        self.held = 0


def export_topics(settings: RuntimeSettings, topics: list[str] | None) -> list[str]:
    """The topics an export reads: those asked for, else every service's."""
    from contracts import topics as logical

    return topics or [settings.topic(t) for t in logical()]


def export(
    settings: RuntimeSettings,
    out: Path,
    since: datetime,
    until: datetime,
    *,
    topics: list[str] | None = None,
    types: frozenset[str] | None = None,
    progress: bool = True,
) -> Exported:
    """Export the events of [since, until) to Parquet under ``out``; ``since``/``until`` are aware. A
    topic that does not exist raises ``ReadError``."""
    if until <= since:
        raise ValueError("until must be after since")
    names = export_topics(settings, topics)
    start: Start = since if settings.bus == "kafka" else "earliest"
    reading = Reading(topics=names, start=start, types=types)
    with tqdm(desc="events", unit=" events", file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        collect = Collector(out, since.astimezone(until.tzinfo), until, bar)
        asyncio.run(read(settings, reading, collect))
        collect.flush()
    return Exported(collect.events, collect.partitions, collect.read, collect.first, collect.last)
