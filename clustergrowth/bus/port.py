"""The event-bus port: durable topics, publish with acknowledgement, consumer groups with explicit commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from clustergrowth.envelope import CloudEvent


def dlq_topic(topic: str) -> str:
    """Where events that keep failing for a consumer are parked."""
    return f"{topic}.dlq"


@dataclass
class Delivery:
    """One record handed to a consumer; ``commit`` acknowledges it and every earlier one of its stream.

    ``stream`` names the ordered sequence the record belongs to (a topic, or a topic's partition): a
    commit acknowledges that stream's earlier records, not another's. ``batch_end`` says whether the bus
    has no further record at hand after this one (the last of a fetch): a consumer may then commit the
    latest record of each stream once instead of every record (``clustergrowth.inbox``)."""

    topic: str
    event: CloudEvent | None  # None when the record is not a decodable CloudEvent
    raw_error: str | None
    commit: Callable[[], Awaitable[None]]
    position: str
    stream: str = ""  # "" reads as the topic
    batch_end: bool = True  # True unless the bus says otherwise: commit each record


class EventBus(Protocol):
    """A durable, partitioned-by-key event log."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def ensure_topics(self, topics: Sequence[str]) -> None: ...

    async def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Return only once every event is durably stored (Kafka: acks=all)."""

    def consume(self, group: str, topics: Sequence[str], *, pattern: str | None = None) -> AsyncIterator[Delivery]:
        """Deliveries for a consumer group, from the group's committed position (earliest if new).

        ``pattern`` (a regular expression matched against whole topic names) adds every topic that
        matches it, including topics created later (partners' replicas), each read from its beginning."""

    async def topic_names(self) -> list[str]:
        """Every topic that exists now (a partner's replicas included), sorted."""

    async def latest_records(self, pattern: str) -> dict[str, tuple[bytes | None, bytes | None]]:
        """The last record, raw (key, value), of each partition of every topic whose whole name matches
        ``pattern``, keyed ``<topic>/<partition>``: for records that are not CloudEvents, such as
        MirrorMaker 2's heartbeats (empty partitions left out)."""

    async def high_water(self, topics: Sequence[str]) -> dict[str, int]:
        """Where each topic (partition) ends now; equal answers mean nothing was published in between."""

    def read(self, topics: Sequence[str], *, follow: bool = False) -> AsyncIterator[tuple[str, CloudEvent]]:
        """Every event from the beginning, without a group; stops at the end unless ``follow``."""
