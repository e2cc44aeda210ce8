"""Apache Kafka adapter over aiokafka, with the safe settings aiokafka does not default to.

Producer: idempotent, ``acks="all"``. Consumers: auto-commit off (commit after handling),
``auto_offset_reset="earliest"`` for a new group. Records are CloudEvents in binary content mode.
Every client (producer, consumers, admin) gets the same security options, ``security_options(settings)``:
TLS (CA, client certificate) and SASL SCRAM credentials.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from aiokafka.helpers import create_ssl_context

from clustergrowth.bus.port import Delivery
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings

log = logging.getLogger("clustergrowth.bus.kafka")


def security_options(settings: RuntimeSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for the settings' transport security, the same for every client
    (``AIOKafkaProducer``, ``AIOKafkaConsumer``, ``AIOKafkaAdminClient``): ``security_protocol``, an
    ``ssl_context`` (the CA, and the client certificate for mutual TLS) and SASL SCRAM credentials."""
    protocol = settings.kafka_security_protocol
    opts: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        key_password = settings.kafka_ssl_key_password
        opts["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            password=key_password.get_secret_value() if key_password else None,
        )
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        assert settings.kafka_sasl_password is not None  # the settings refuse SASL without it
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        opts["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return opts


def client_options(settings: RuntimeSettings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security options: what any aiokafka client of this region needs
    (the ``clustergrowth events`` command builds its consumer with these)."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **security_options(settings)}


class KafkaBus:
    """Event-bus port over Apache Kafka."""

    messaging_system = "kafka"  # OpenTelemetry's messaging.system

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "clustergrowth",
        partitions: int = 3,
        replication: int = 1,
        request_timeout_ms: int = 10_000,
        security: dict[str, Any] | None = None,
        metadata_max_age_ms: int = 5_000,
    ) -> None:
        """``security``: ``security_options(settings)``, passed to every client; none: plaintext."""
        self.bootstrap = bootstrap
        self.security = security or {}
        self.client_id = client_id
        self.partitions = partitions
        self.replication = replication
        self.request_timeout_ms = request_timeout_ms
        self.metadata_max_age_ms = metadata_max_age_ms
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _get_producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                p = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=1,
                    request_timeout_ms=self.request_timeout_ms,
                    **self.security,
                )
                try:
                    await p.start()
                except BaseException:
                    await p.stop()
                    raise
                self._producer = p
            return self._producer

    async def start(self) -> None:
        await self._get_producer()

    async def close(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def _reset_producer(self) -> None:
        async with self._lock:
            p, self._producer = self._producer, None
        if p is not None:
            try:
                await p.stop()
            except Exception:
                log.warning("producer stop failed after an error", exc_info=True)

    async def ping(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000, **self.security)
        try:
            await admin.start()
            await admin.list_topics()
        finally:
            await admin.close()

    async def topic_names(self) -> list[str]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            request_timeout_ms=self.request_timeout_ms,
            **self.security,
        )
        try:
            await admin.start()
            return sorted(await admin.list_topics())
        finally:
            await admin.close()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the missing topics with their retention (``topic_configs``), and set it on existing
        topics that were created without it (AlterConfigs, keeping their other topic-level settings):
        a topic left at the broker's default (7 days) would silently lose the history ``rebuild`` folds.
        A broker that refuses the change stops the start with an error naming the topic."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            request_timeout_ms=self.request_timeout_ms,
            **self.security,
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if missing:
                try:
                    created = await admin.create_topics(
                        [
                            NewTopic(t, self.partitions, self.replication, topic_configs=topic_configs(t))
                            for t in missing
                        ]
                    )
                except TopicAlreadyExistsError:
                    created = None
                # the answer carries an error per topic (not raised): any but "exists already" stops the start
                for topic, error_code, *message in getattr(created, "topic_errors", ()):
                    if error_code not in (0, TopicAlreadyExistsError.errno):
                        detail = f"{error_code} {message[0] or ''}".strip() if message else str(error_code)
                        raise RuntimeError(f"topic {topic}: creating it failed ({detail})")
            present = [t for t in topics if t in existing]
            if present:
                await _align_configs(admin, present)
        finally:
            await admin.close()

    async def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        if not events:
            return
        producer = await self._get_producer()
        try:
            futures = []
            for e in events:
                key, value, headers = e.to_kafka()
                futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            await asyncio.gather(*futures)
        except KafkaError:
            # A broken producer (broker gone, fenced sequence) is replaced; the caller retries.
            await self._reset_producer()
            raise

    async def consume(
        self, group: str, topics: Sequence[str], *, pattern: str | None = None
    ) -> AsyncIterator[Delivery]:
        consumer = AIOKafkaConsumer(
            *(topics if pattern is None else ()),
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-{group}",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # how soon a pattern subscription sees a topic created later (a partner's replica)
            metadata_max_age_ms=self.metadata_max_age_ms,
            **self.security,
        )
        if pattern is not None:
            # aiokafka subscribes to one pattern or to named topics: the named ones join the pattern
            named = "|".join(re.escape(t) for t in topics)
            consumer.subscribe(pattern=f"(?:^(?:{named})$)|(?:{pattern})" if topics else pattern)
        try:
            await consumer.start()  # inside: a start refused (e.g. by the group's ACL) still closes it
            async for msg in consumer:
                try:
                    event, err = CloudEvent.from_kafka(msg.key, msg.value, list(msg.headers)), None
                except (ValueError, UnicodeDecodeError) as e:
                    event, err = None, str(e)
                tp = TopicPartition(msg.topic, msg.partition)

                async def commit(tp: TopicPartition = tp, offset: int = msg.offset + 1) -> None:
                    await consumer.commit({tp: offset})

                yield Delivery(
                    topic=msg.topic,
                    event=event,
                    raw_error=err,
                    commit=commit,
                    position=f"{msg.topic}/{msg.partition}@{msg.offset}",
                    stream=f"{msg.topic}/{msg.partition}",
                )
        finally:
            await _stop_quietly(consumer)

    async def latest_records(self, pattern: str) -> dict[str, tuple[bytes | None, bytes | None]]:
        rx = re.compile(pattern)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-latest",
            group_id=None,
            enable_auto_commit=False,
            **self.security,
        )
        await consumer.start()
        try:
            parts = await _partitions(consumer, sorted(t for t in await consumer.topics() if rx.fullmatch(t)))
            ends = await consumer.end_offsets(parts) if parts else {}
            live = [tp for tp in parts if ends[tp] > 0]
            if not live:
                return {}
            consumer.assign(live)
            for tp in live:
                consumer.seek(tp, ends[tp] - 1)
            out: dict[str, tuple[bytes | None, bytes | None]] = {}
            for _ in range(10):  # bounded: one fetch per partition is the usual case
                batch = await consumer.getmany(*live, timeout_ms=1000)
                for tp, records in batch.items():
                    if records:
                        out[f"{tp.topic}/{tp.partition}"] = (records[-1].key, records[-1].value)
                if len(out) == len(live) or not batch:
                    break
            return out
        finally:
            await consumer.stop()

    async def high_water(self, topics: Sequence[str]) -> dict[str, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-hw", group_id=None, **self.security
        )
        await consumer.start()
        try:
            parts = await _partitions(consumer, topics)
            ends = await consumer.end_offsets(parts) if parts else {}
            return {f"{tp.topic}/{tp.partition}": int(o) for tp, o in ends.items()}
        finally:
            await consumer.stop()

    async def read(self, topics: Sequence[str], *, follow: bool = False) -> AsyncIterator[tuple[str, CloudEvent]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-reader",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.security,
        )
        await consumer.start()
        try:
            parts = await _partitions(consumer, topics)
            if not parts:
                return
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            end = await consumer.end_offsets(parts)
            while True:
                if not follow and all([await _at_end(consumer, tp, end[tp]) for tp in parts]):
                    return
                batch = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batch.items():
                    for m in msgs:
                        try:
                            yield tp.topic, CloudEvent.from_kafka(m.key, m.value, list(m.headers))
                        except ValueError:
                            log.warning("skipping a record that is not a CloudEvent at %s@%s", tp, m.offset)
        finally:
            await consumer.stop()


DLQ_RETENTION_MS = 30 * 24 * 60 * 60 * 1000  # 2,592,000,000: the Helm chart's dlqRetentionMs, compose's
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a value set on the topic itself


def topic_configs(topic: str) -> dict[str, str]:
    """The settings every topic is created with, as the Helm chart's KafkaTopics and the compose file's
    topic job set them: an event topic keeps its whole history (``retention.ms=-1``: projections are
    rebuilt from the log), a dead-letter topic (``*.dlq``) 30 days; both delete (no compaction)."""
    retention = DLQ_RETENTION_MS if topic.endswith(".dlq") else -1
    return {"retention.ms": str(retention), "cleanup.policy": "delete"}


async def _align_configs(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> None:
    """Set ``topic_configs`` on existing topics whose values differ (AlterConfigs replaces a topic's
    whole dynamic configuration, so its other topic-level values are sent again unchanged)."""
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    changes: list[ConfigResource] = []
    for response in described:
        for error_code, error_message, _type, name, entries in response.resources:
            if error_code:
                raise RuntimeError(f"topic {name}: describing its configuration failed ({error_code} {error_message})")
            current = {e[0]: e[1] for e in entries}
            dynamic = {e[0]: e[1] for e in entries if e[3] == DYNAMIC_TOPIC_CONFIG}
            wanted = topic_configs(name)
            if any(current.get(k) != v for k, v in wanted.items()):
                log.warning(
                    "topic %s had retention.ms=%s cleanup.policy=%s; setting %s",  # pragma: no mutate
                    name,
                    current.get("retention.ms"),
                    current.get("cleanup.policy"),
                    wanted,
                )
                changes.append(ConfigResource(ConfigResourceType.TOPIC, name, configs={**dynamic, **wanted}))
    if not changes:
        return
    for response in await admin.alter_configs(changes):
        for error_code, error_message, _type, name in response.resources:
            if error_code:
                raise RuntimeError(f"topic {name}: setting {topic_configs(name)} failed ({error_code} {error_message})")


async def _stop_quietly(consumer: AIOKafkaConsumer, timeout_s: float = 10) -> None:
    """Stop a consumer without hanging when the broker is gone (leaving the group cannot succeed then)."""
    try:
        async with asyncio.timeout(timeout_s):
            await consumer.stop()
    except TimeoutError:
        log.warning("consumer did not stop within %ss; abandoning it", timeout_s)


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (metadata through the consumer's client)."""
    parts: list[TopicPartition] = []
    for t in topics:
        try:
            found = await consumer._client._wait_on_metadata(t)
        except UnknownTopicOrPartitionError:
            continue
        parts += [TopicPartition(t, p) for p in sorted(found)]
    return parts


async def _at_end(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
    return bool(await consumer.position(tp) >= end)
