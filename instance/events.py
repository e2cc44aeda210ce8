"""``clustergrowth events``: read the region's events as JSON lines, from a chosen point, optionally as a
consumer group that remembers where it stopped.

Where to start (``--from``): ``earliest``, ``latest`` (only what comes next), or a time (ISO 8601): on
Kafka the first record of each partition whose timestamp is at or after it (``offsets_for_times``; the
timestamp is when the outbox relay published the event), in the embedded log the first event whose
``time`` is. Without ``--from``, a group starts where it last committed (a new group: earliest) and a
read without a group starts at the beginning.

With ``--group`` the offsets of what was read are committed (Kafka: the group's offsets; embedded: the
log's offsets table), so the next run with the same group goes on from there. A group never shares a
name with a service's own consumer groups (``<service>.<name>``), whose offsets drive the projections.

Bounds: ``--max N`` events, ``--until T`` (stop each partition at its first event after T), and without
``--follow`` the end of the log as it was at the start.

A topic that does not exist is an error naming it (embedded log: no record on it and not one of the
region's service topics; Kafka: not in the cluster's metadata and not one of them). A read that finds
nothing says so, with what it searched (``nothing_found``), instead of ending silently.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings

Start = Literal["earliest", "latest"] | datetime | None
Emit = Callable[[str, CloudEvent], None]
POLL_S = 0.2
BATCH = 500


class ReadError(Exception):
    """The read cannot start; the message says why."""


def parse_start(text: str | None) -> Start:
    """``earliest``, ``latest`` or an ISO 8601 time (UTC when it names no offset)."""
    if text is None or text in ("earliest", "latest"):
        return text  # type: ignore[return-value]
    return parse_time(text, "--from")


def parse_time(text: str, option: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        also = " (or earliest, latest)" if option == "--from" else ""
        raise ReadError(f"{option} {text!r}: not an ISO 8601 time such as 2026-03-02T09:00Z{also}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Reading:
    """What to read: topics, from where, as which group, up to which bound, of which types."""

    topics: list[str]
    start: Start = None
    group: str | None = None
    follow: bool = False
    max: int | None = None
    until: datetime | None = None
    types: frozenset[str] | None = None


def describe(r: Reading) -> str:
    """What a reading searched, in words: topics, start, bound and types."""
    if isinstance(r.start, datetime):
        start = f"from {r.start.isoformat()}"
    elif r.start == "latest":
        start = "from the end of the log (latest)"
    elif r.start is None and r.group is not None:
        start = f"from group {r.group}'s committed position"
    else:
        start = "from the beginning"
    end = f" until {r.until.isoformat()}" if r.until is not None else " to the end of the log"
    kinds = f", of type {', '.join(sorted(r.types))}" if r.types else ""
    return f"{', '.join(r.topics)} {start}{end}{kinds}"


def nothing_found(r: Reading) -> str:
    """The message of a read that emitted nothing."""
    hint = ""
    if isinstance(r.start, datetime) or r.until is not None:
        hint = " (times are UTC; events carry the time they happened)"
    return f"no events in {describe(r)}{hint}"


def known_topics(settings: RuntimeSettings) -> list[str]:
    """The region's service topics, with its topic prefix."""
    from contracts import topics

    return [settings.topic(t) for t in topics()]


def missing(wanted: list[str], present: set[str], settings: RuntimeSettings, where: str) -> None:
    """Refuse the topics that are neither present (``where``) nor among the region's own."""
    known = known_topics(settings)
    absent = [t for t in wanted if t not in present and t not in known]
    if absent:
        raise ReadError(f"--topic {absent[0]!r}: no such topic {where}; this region's own: {', '.join(known)}")


def check_group(group: str | None, settings: RuntimeSettings, services: list[str]) -> None:
    """Refuse a group named like a service's own consumer group (its offsets drive a projection)."""
    if group is None:
        return
    if not group or len(group) > 200:
        raise ReadError("--group: a name of 1 to 200 characters")
    bare = group.removeprefix(settings.topic_prefix)
    taken = [s for s in services if bare.startswith(f"{s}.")]
    if taken:
        raise ReadError(
            f"--group {group!r} is named like the {taken[0]} service's own groups ({taken[0]}.*): choose another"
        )


def _time(event: CloudEvent) -> datetime | None:
    try:
        t = datetime.fromisoformat(event.time)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Counter:
    """Counts emitted events against ``--max``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.n = 0

    @property
    def full(self) -> bool:
        return self.limit is not None and self.n >= self.limit


# Embedded log ------------------------------------------------------------------------------------------
def read_embedded(
    path: Path,
    r: Reading,
    emit: Emit,
    *,
    stop: Callable[[], bool] = lambda: False,
    settings: RuntimeSettings | None = None,
) -> int:
    """Read the embedded log (SQLite); returns how many events were emitted. With ``settings``, a topic
    with no record that is not one of the region's own is refused (``ReadError``)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA busy_timeout=5000")
    try:
        if settings is not None:
            present = {t for t in r.topics if db.execute("SELECT 1 FROM log WHERE topic=? LIMIT 1", (t,)).fetchone()}
            missing(r.topics, present, settings, "in the embedded log")
        return _read_embedded(db, r, emit, stop)
    finally:
        db.close()


def _read_embedded(db: sqlite3.Connection, r: Reading, emit: Emit, stop: Callable[[], bool]) -> int:
    import time

    def last(topic: str) -> int:
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM log WHERE topic=?", (topic,)).fetchone()[0])

    committed: dict[str, int] = {}
    if r.group is not None:
        rows = db.execute("SELECT topic, seq FROM offsets WHERE grp=?", (r.group,)).fetchall()
        committed = {t: int(s) for t, s in rows}
    position: dict[str, int] = {}
    for t in r.topics:
        if r.start == "earliest":
            position[t] = 0
        elif r.start == "latest":
            position[t] = last(t)
        elif isinstance(r.start, datetime):
            position[t] = _first_at(db, t, r.start)
        else:
            position[t] = committed.get(t, 0)
    end = {t: last(t) for t in r.topics}
    done: set[str] = set()
    count = Counter(r.max)
    while not count.full and not stop():
        rows = []
        for t in r.topics:
            if t not in done:
                rows += db.execute(
                    "SELECT seq, topic, event FROM log WHERE topic=? AND seq>? ORDER BY seq LIMIT ?",
                    (t, position[t], BATCH),
                ).fetchall()
        rows.sort()
        read_to: dict[str, int] = {}
        for seq, topic, raw in rows:
            if topic in done or count.full:
                continue
            if not r.follow and seq > end[topic]:
                done.add(topic)
                continue
            try:
                event = CloudEvent.from_dict(json.loads(raw))
            except (ValueError, KeyError, TypeError):
                event = None
            if event is not None and r.until is not None and (_time(event) or r.until) > r.until:
                done.add(topic)
                continue
            position[topic] = read_to[topic] = seq
            if event is not None and (r.types is None or event.type in r.types):
                emit(topic, event)
                count.n += 1
        if r.group is not None and read_to:
            db.executemany(
                "INSERT INTO offsets (grp, topic, seq) VALUES (?, ?, ?) ON CONFLICT (grp, topic)"
                " DO UPDATE SET seq=excluded.seq WHERE excluded.seq > offsets.seq",
                [(r.group, t, s) for t, s in read_to.items()],
            )
        if not r.follow:
            done |= {t for t in r.topics if position[t] >= end[t]}
        if len(done) == len(r.topics):
            break
        if not rows:
            time.sleep(POLL_S)
    return count.n


def _first_at(db: sqlite3.Connection, topic: str, when: datetime) -> int:
    """The position before the first event of ``topic`` whose time is at or after ``when``."""
    before = 0
    for seq, raw in db.execute("SELECT seq, event FROM log WHERE topic=? ORDER BY seq", (topic,)):
        try:
            t = _time(CloudEvent.from_dict(json.loads(raw)))
        except (ValueError, KeyError, TypeError):
            t = None
        if t is not None and t >= when:
            return before
        before = seq
    return before


# Kafka -------------------------------------------------------------------------------------------------
async def read_kafka(settings: RuntimeSettings, r: Reading, emit: Emit) -> int:
    """Read the region's Kafka topics; returns how many events were emitted."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from clustergrowth.bus.kafka import client_options

    consumer = AIOKafkaConsumer(
        **client_options(settings),
        client_id="clustergrowth-cli",
        group_id=r.group,
        enable_auto_commit=False,
        auto_offset_reset="latest" if r.start == "latest" else "earliest",
    )
    await consumer.start()
    count = Counter(r.max)
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in r.topics for p in sorted(consumer.partitions_for_topic(t) or set())]
        missing(r.topics, {tp.topic for tp in tps}, settings, f"in the cluster's metadata ({settings.kafka_bootstrap})")
        if not tps:
            return 0
        consumer.assign(tps)
        if r.start == "earliest" or (r.start is None and r.group is None):
            await consumer.seek_to_beginning(*tps)
        elif r.start == "latest":
            await consumer.seek_to_end(*tps)
        elif isinstance(r.start, datetime):
            ends = await consumer.end_offsets(tps)  # before the lookup: a record landing in between is not skipped
            found = await consumer.offsets_for_times({tp: int(r.start.timestamp() * 1000) for tp in tps})
            for tp in tps:
                consumer.seek(tp, found[tp].offset if found.get(tp) is not None else ends[tp])
        end = await consumer.end_offsets(tps)
        until_ms = int(r.until.timestamp() * 1000) if r.until is not None else None
        done: set[Any] = set()
        while not count.full:
            if not r.follow:
                done |= {tp for tp in tps if await consumer.position(tp) >= end[tp]}
            active = [tp for tp in tps if tp not in done]
            if not active:
                break
            batch = await consumer.getmany(*active, timeout_ms=500)
            read_to: dict[Any, int] = {}
            for tp, msgs in sorted(batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
                for m in msgs:
                    if tp in done or count.full:
                        break
                    if (not r.follow and m.offset >= end[tp]) or (until_ms is not None and m.timestamp > until_ms):
                        done.add(tp)
                        break
                    read_to[tp] = m.offset + 1
                    try:
                        event = CloudEvent.from_kafka(m.key, m.value, list(m.headers))
                    except (ValueError, UnicodeDecodeError):
                        continue
                    if r.types is None or event.type in r.types:
                        emit(tp.topic, event)
                        count.n += 1
            if r.group is not None and read_to:
                await consumer.commit(read_to)
    finally:
        await consumer.stop()
    return count.n


async def read(settings: RuntimeSettings, r: Reading, emit: Emit) -> int:
    """Read with the adapter the settings name."""
    if settings.bus == "kafka":
        return await read_kafka(settings, r, emit)
    path = settings.data_dir / "events.sqlite"
    return await asyncio.to_thread(lambda: read_embedded(path, r, emit, settings=settings))
