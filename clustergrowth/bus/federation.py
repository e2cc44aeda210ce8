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

import re
from collections.abc import Sequence
from dataclasses import dataclass

from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent

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


async def replicas(bus: EventBus, topics: Sequence[str], region: str) -> list[str]:
    """The partners' replicas of ``topics`` that exist now on ``bus`` (``<alias>.<topic>``, never this
    region's own alias): what a rebuild of a federated projection reads beside the local topics."""
    pattern = re.compile(partner_pattern(topics, region))
    return [t for t in await bus.topic_names() if pattern.match(t)]
