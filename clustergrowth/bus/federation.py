"""Which region an event comes from, and the topics a federated consumer reads.

Regions replicate their ``*.events`` topics to each other with Kafka MirrorMaker 2 and its default
replication policy: region ITH5's ``facilities.events`` appears in region IE05's cluster as
``ith5.facilities.events`` (the source cluster's alias, the region code in lower case, then a dot).
A federated consumer subscribes to its local topics and, by pattern, to every partner's replica of
them; each event is then told apart by ``origin``: local, or from which partner. An event on a
partner's topic must say it is that partner's (its ``region`` attribute and, when it has the form
``/regions/<CODE>/<service>``, its ``source``): one region never speaks for another.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.protocol.types import Int16, Int64, Schema, String

from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent

log = logging.getLogger("clustergrowth.bus.federation")
ALIAS = r"[a-z0-9]+"  # a replication alias: a region code in lower case
_SOURCE = re.compile(r"^/regions/([A-Za-z0-9]+)/")


def alias(region: str) -> str:
    """The MirrorMaker 2 cluster alias of a region (``ITH5`` -> ``ith5``): the prefix of its replicas."""
    return region.lower()


def partner_pattern(topics: Sequence[str], region: str) -> str:
    """A regular expression matching every partner's replica of ``topics`` (``<alias>.<topic>``),
    never this region's own alias (a replica of our own topic coming back would be a cycle)."""
    names = "|".join(re.escape(t) for t in sorted(topics))
    return rf"^(?!{re.escape(alias(region))}\.){ALIAS}\.(?:{names})$"


def source_region(event: CloudEvent) -> str | None:
    """The region named by a ``/regions/<CODE>/<service>`` source, else None."""
    m = _SOURCE.match(event.source)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Origin:
    """Where a delivered event comes from, as a federated handler receives it.

    ``partner`` is None for an event read from this region's own topic, else the partner region's
    code (upper case) whose replicated topic carried it; ``region`` is the event's own region.
    """

    region: str
    partner: str | None
    topic: str
    local_topic: str

    @property
    def local(self) -> bool:
        return self.partner is None


class ForeignEvent(ValueError):
    """An event on a partner's topic that does not say it is that partner's."""


def origin_of(topic: str, event: CloudEvent, local_topics: Sequence[str], region: str) -> Origin:
    """Classify a delivery: local (on one of ``local_topics``) or from the partner whose replica it came
    on. Raises ForeignEvent when a replicated event's region (attribute or source) is not its partner's,
    or when the topic is neither local nor a partner replica of a local topic."""
    if topic in local_topics:
        return Origin(region=event.region, partner=None, topic=topic, local_topic=topic)
    prefix, _, rest = topic.partition(".")
    if rest not in local_topics or not re.fullmatch(ALIAS, prefix) or prefix == alias(region):
        raise ForeignEvent(f"{topic} is not a partner replica of {sorted(local_topics)}")
    partner = prefix.upper()
    claimed = {event.region.upper(), (source_region(event) or event.region).upper()}
    if claimed != {partner}:
        raise ForeignEvent(f"event {event.id} on {topic} says region {event.region!r}, source {event.source!r}")
    return Origin(region=event.region, partner=partner, topic=topic, local_topic=rest)


async def replay_partners(
    bus: EventBus, topics: Sequence[str], region: str, handler: Callable[[CloudEvent, Origin], Awaitable[None]]
) -> dict[str, int]:
    """Every event of the partners' replicas of ``topics`` that exist on ``bus``, from their beginning,
    through ``handler`` with its origin, as the federated consumer hands them over (an event that is not
    its partner's is skipped): what a rebuild of a partner projection folds. Events read per partner."""
    read: dict[str, int] = {}
    for topic in await replicas(bus, topics, region):
        async for _, event in bus.read([topic]):
            try:
                origin = origin_of(topic, event, topics, region)
            except ForeignEvent as e:
                log.warning("replay: %s", e)
                continue
            await handler(event, origin)
            read[origin.region] = read.get(origin.region, 0) + 1
    return read


async def replicas(bus: EventBus, topics: Sequence[str], region: str) -> list[str]:
    """The partners' replicas of ``topics`` that exist now on ``bus`` (``<alias>.<topic>``, never this
    region's own alias): what a rebuild of a federated projection reads beside the local topics."""
    pattern = re.compile(partner_pattern(topics, region))
    return [t for t in await bus.topic_names() if pattern.match(t)]


# MirrorMaker 2's heartbeats -----------------------------------------------------------------------------
# MirrorMaker 2 writes a heartbeat every second (emit.heartbeats.interval.seconds) to a ``heartbeats`` topic
# and replicates every cluster's ``heartbeats`` like any topic, so a partner's arrive here as
# ``<alias>.heartbeats`` even when its event topics are quiet: a record there says the partner's cluster was
# up at its timestamp and that replication from it works. The record is not a CloudEvent but Kafka's own
# layout (org.apache.kafka.connect.mirror.Heartbeat, in Kafka's protocol types): the key is
# STRING sourceClusterAlias, STRING targetClusterAlias (each an INT16 length and UTF-8 bytes); the value a
# header INT16 version (0), then for version 0 INT64 timestamp (ms since the epoch), big-endian. Read with
# the Kafka client library's implementation of those types (aiokafka.protocol.types).
HEARTBEAT_KEY = Schema(("sourceClusterAlias", String("utf-8")), ("targetClusterAlias", String("utf-8")))
HEARTBEAT_HEADER = Schema(("version", Int16))
HEARTBEAT_VALUES = {0: Schema(("timestamp", Int64))}


@dataclass(frozen=True)
class Heartbeat:
    source: str  # MirrorMaker 2 cluster aliases of the flow that emitted it
    target: str
    at: datetime


def parse_heartbeat(key: bytes | None, value: bytes | None) -> Heartbeat:
    """One MirrorMaker 2 heartbeat record; ValueError when it is not one (or of a version not known)."""
    if key is None or value is None:
        raise ValueError("a heartbeat has a key and a value")
    try:  # the types' decoders raise ValueError (a short read, bad UTF-8)
        raw = io.BytesIO(value)
        (version,) = HEARTBEAT_HEADER.decode(raw)
        if version not in HEARTBEAT_VALUES:
            raise ValueError(f"version {version} is not known")
        (ms,) = HEARTBEAT_VALUES[version].decode(raw)
        source, target = HEARTBEAT_KEY.decode(io.BytesIO(key))
    except ValueError as e:
        raise ValueError(f"not a MirrorMaker 2 heartbeat: {e}") from e
    if source is None or target is None:
        raise ValueError("not a MirrorMaker 2 heartbeat: a null cluster alias")
    return Heartbeat(source, target, datetime.fromtimestamp(ms / 1000, UTC))


def heartbeat_pattern(region: str) -> str:
    """Partners' replicas of the heartbeats topic (never this region's own alias)."""
    return rf"^(?!{re.escape(alias(region))}\.){ALIAS}\.heartbeats$"


async def partner_heartbeats(bus: EventBus, region: str) -> dict[str, datetime]:
    """Partner region -> the time of its latest heartbeat replicated here (the newest of the last record of
    each partition of ``<alias>.heartbeats``); a record that is not a heartbeat is logged and left out."""
    out: dict[str, datetime] = {}
    for where, (key, value) in (await bus.latest_records(heartbeat_pattern(region))).items():
        partner = where.partition(".")[0].upper()
        try:
            beat = parse_heartbeat(key, value)
        except ValueError as e:
            log.warning("%s: %s", where, e)
            continue
        if partner not in out or beat.at > out[partner]:
            out[partner] = beat.at
    return out
