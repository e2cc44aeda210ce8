"""The Helm chart's Kafka ACLs on a real broker: a native KRaft broker with a SASL_SSL/SCRAM listener and
Kafka's StandardAuthorizer (tests/backends.py, ``super_users``), the rules the chart renders for the
services' KafkaUser created with Kafka's own ``kafka-acls`` (org.apache.kafka.tools.AclCommand, from the jars
``deploy/native/provision.sh kafka`` resolves), then the services' own bus code as that user (``KafkaBus``
with ``security_options`` from the settings, as the services build it): the start's topic check, a publish,
a service's consumer group, the federated pattern over a partner's replica, the partner's MirrorMaker 2
heartbeats. And what the rules leave out is refused by the broker: writing a partner's replica, reading a
topic no rule names, a group that is not a service's, creating a topic. Then MirrorMaker 2
(deploy/native/mirrormaker.sh) pulls a partner broker's topics into this one as the chart's MirrorMaker user."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from clustergrowth.bus.federation import partner_heartbeats, partner_pattern
from clustergrowth.bus.kafka import KafkaBus, security_options, topic_configs
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from tests import backends
from tests.conftest import USED
from tests.deploy.test_helm import EVENT_TOPICS, by_name
from tests.deploy.tooling import PRODUCTION, render
from tests.helpers import eventually
from tests.integration.test_tls import Ca

pytestmark = pytest.mark.integration

ADMIN, ADMIN_PASSWORD = "cg-test-admin", "admin-Pw-of-the-test-2026"
SERVICES_PASSWORD = "services-Pw-of-ie05-2026"
# The partner production values name (ITH5, alias ith5) and a region that is not a partner.
REPLICA, HEARTBEATS, STRANGER = "ith5.facilities.events", "ith5.heartbeats", "es51.facilities.events"
OUTSIDE = "payroll.events"  # a topic of the cluster that no rule names
MM2_USER, MM2_PASSWORD = "cg-kafka-mirrormaker2", "mm2-Pw-of-ie05-2026"  # the chart's <cluster>-mirrormaker2
T_HEARTBEAT_MS = 1_803_904_200_000  # 2027-03-01T12:30:00Z (tests/component/test_network_catalogue.py works it out)


@pytest.fixture(scope="module")
def services_user() -> dict[str, Any]:
    """The services' KafkaUser as the chart renders it with the production values (partner ith5)."""
    user: dict[str, Any] = by_name(render(PRODUCTION), "KafkaUser")["clustergrowth"]
    return user


def acl_commands(principal: str, acls: list[dict[str, Any]]) -> list[list[str]]:
    """``kafka-acls --add`` arguments for a KafkaUser's ``spec.authorization.acls`` (Strimzi's ``prefix`` is
    Kafka's ``prefixed``), one call per resource type, pattern type and set of operations."""
    grouped: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = {}
    for acl in acls:
        r = acl["resource"]
        if r["type"] not in ("topic", "group"):
            raise ValueError(f"no translation for a {r['type']} rule here: {acl}")
        pattern = {"literal": "literal", "prefix": "prefixed"}[r.get("patternType", "literal")]
        key = (acl.get("type", "allow"), r["type"], pattern, tuple(acl["operations"]))
        grouped.setdefault(key, []).append(r["name"])
    return [
        [
            "--add",
            f"--{permission}-principal",
            f"User:{principal}",
            "--resource-pattern-type",
            pattern,
            *(a for op in operations for a in ("--operation", op)),
            *(a for name in names for a in (f"--{kind}", name)),
        ]
        for (permission, kind, pattern, operations), names in grouped.items()
    ]


def kafka_acls(folder: Path, bootstrap: str, ca: Path, args: list[str]) -> None:
    """Kafka's own ACL tool as the test's super user, over SASL_SSL."""
    config = folder / "admin.properties"
    config.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{ADMIN_PASSWORD}";\n'
        f"ssl.truststore.type=PEM\nssl.truststore.location={ca}\n"
    )
    libs = backends.provision("kafka")
    cmd = ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", f"{libs}/*", "org.apache.kafka.tools.AclCommand"]
    done = subprocess.run(
        [*cmd, "--bootstrap-server", bootstrap, "--command-config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def bus_as(bootstrap: str, ca: Path, user: str, password: str) -> KafkaBus:
    s = RuntimeSettings(
        kafka_bootstrap=bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=ca,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=user,
        kafka_sasl_password=password,  # type: ignore[arg-type]
    )
    return KafkaBus(s.kafka_bootstrap, client_id="acl-test", partitions=1, security=security_options(s))


def event(n: int, region: str = "IE05") -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.test.Acl.v1",
        source=f"/regions/{region}/facilities",
        data={"n": n},
        region=region,
        partitionkey="k",
    )


def heartbeat(source: str, target: str, ms: int) -> tuple[bytes, bytes]:
    """A MirrorMaker 2 heartbeat written out by hand (org.apache.kafka.connect.mirror.Heartbeat): key INT16
    length + UTF-8 alias twice, value INT16 version 0 and INT64 timestamp in ms, big-endian."""
    key = len(source).to_bytes(2, "big") + source.encode() + len(target).to_bytes(2, "big") + target.encode()
    return key, b"\x00\x00" + ms.to_bytes(8, "big")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, services_user: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    """(SASL_SSL bootstrap, CA) of a broker holding what the chart's KafkaTopics and MirrorMaker 2 would make
    (the event topics and their DLQs with their configs, ITH5's replica and heartbeats, a stranger's replica,
    a topic outside) and the chart's rules for the services' user."""
    folder = tmp_path_factory.mktemp("kafka-acls")
    ca = Ca(folder, "region-ca")
    cert, key = ca.issue("server", server=True)
    users = {ADMIN: ADMIN_PASSWORD, services_user["metadata"]["name"]: SERVICES_PASSWORD, MM2_USER: MM2_PASSWORD}
    proc, listeners = backends.native_kafka_tls(
        folder, backends.TlsFiles(ca.path, cert, key), users, super_users=[ADMIN]
    )
    USED["kafka-acls"] = f"native KRaft broker with StandardAuthorizer, SASL_SSL at {listeners.sasl_ssl}"
    try:
        admin = bus_as(listeners.sasl_ssl, ca.path, ADMIN, ADMIN_PASSWORD)
        topics = [*sorted(EVENT_TOPICS), *(f"{t}.dlq" for t in sorted(EVENT_TOPICS))]
        asyncio.run(admin.ensure_topics([*topics, REPLICA, HEARTBEATS, STRANGER, OUTSIDE]))
        for args in acl_commands(services_user["metadata"]["name"], services_user["spec"]["authorization"]["acls"]):
            kafka_acls(folder, listeners.sasl_ssl, ca.path, args)
        yield listeners.sasl_ssl, ca.path
    finally:
        proc.stop()


@pytest.fixture
async def services(cluster: tuple[str, Path], services_user: dict[str, Any]) -> AsyncIterator[KafkaBus]:
    bus = bus_as(*cluster, services_user["metadata"]["name"], SERVICES_PASSWORD)
    try:
        yield bus
    finally:
        await bus.close()


@pytest.fixture
async def admin(cluster: tuple[str, Path]) -> AsyncIterator[KafkaBus]:
    bus = bus_as(*cluster, ADMIN, ADMIN_PASSWORD)
    try:
        yield bus
    finally:
        await bus.close()


async def first(bus: KafkaBus, group: str, topics: list[str], pattern: str | None = None) -> tuple[str, CloudEvent]:
    """The first delivery of a consumer as ``run_consumer`` reads them, committed as it commits them."""
    async with asyncio.timeout(60):
        async for d in bus.consume(group, topics, pattern=pattern):
            assert d.event is not None
            await d.commit()
            return d.topic, d.event
    raise AssertionError("the subscription ended")


async def test_the_services_user_starts_publishes_and_consumes_as_the_services_do(services: KafkaBus) -> None:
    """ensure_topics over every topic a service checks at its start (describe, configs left alone), a
    publish to the region's topic and its DLQ, and a service's own group reading it back from the start."""
    topics = [*sorted(EVENT_TOPICS), *(f"{t}.dlq" for t in sorted(EVENT_TOPICS))]
    await services.ensure_topics(topics)
    sent = event(1)
    await services.publish("facilities.events", [sent])
    await services.publish("facilities.events.dlq", [event(2)])
    topic, got = await first(services, "facilities.usage", ["facilities.events"])
    assert (topic, got.id, got.data) == ("facilities.events", sent.id, {"n": 1})


async def test_a_federated_consumer_reads_the_partner_s_replica_and_heartbeats(
    services: KafkaBus, admin: KafkaBus
) -> None:
    """What MirrorMaker 2 would write (as the super user): an ITH5 event on ith5.facilities.events and a
    heartbeat on ith5.heartbeats. The services' group facilities.network gets the event through the
    federated pattern; partner_heartbeats reads ITH5's heartbeat at 2027-03-01 12:30 UTC."""
    replicated = event(3, region="ITH5")
    await admin.publish(REPLICA, [replicated])
    producer = await admin._get_producer()
    key, value = heartbeat("ith5", "ie05", T_HEARTBEAT_MS)
    await producer.send_and_wait(HEARTBEATS, value=value, key=key)
    pattern = partner_pattern(["facilities.events"], "IE05")
    seen: set[str] = set()
    async with asyncio.timeout(60):
        async for d in services.consume("facilities.network", ["facilities.events"], pattern=pattern):
            await d.commit()
            seen.add(d.topic)
            if d.topic == REPLICA:
                assert d.event is not None and d.event.id == replicated.id
                break
    assert REPLICA in seen
    assert await partner_heartbeats(services, "IE05") == {"ITH5": datetime(2027, 3, 1, 12, 30, tzinfo=UTC)}


async def test_the_broker_refuses_what_the_rules_leave_out(services: KafkaBus, admin: KafkaBus) -> None:
    """Writing ITH5's replica, reading a topic outside the rules or a stranger's replica, consuming as a
    group that is not a service's, creating a topic: each refused by the broker's authorizer."""
    with pytest.raises(TopicAuthorizationFailedError):
        await services.publish(REPLICA, [event(4)])
    for topic in (OUTSIDE, STRANGER):
        with pytest.raises(TopicAuthorizationFailedError):
            async with asyncio.timeout(60):
                async for _ in services.read([topic]):
                    pass
    with pytest.raises(GroupAuthorizationFailedError):
        await first(services, f"backup-{uuid.uuid4().hex[:6]}", ["facilities.events"])
    # a topic the user may not create stops ensure_topics, naming it (CreateTopics' per-topic error 29)
    with pytest.raises(RuntimeError, match=r"topic facilities\.events\.extra: creating it failed \(29"):
        await services.ensure_topics(["facilities.events.extra"])
    assert "facilities.events.extra" not in await admin.topic_names()
    # the topics no rule names are not even listed to this user
    listed = set(await services.topic_names())
    assert listed >= EVENT_TOPICS | {f"{t}.dlq" for t in EVENT_TOPICS} | {REPLICA, HEARTBEATS}
    assert not listed & {OUTSIDE, STRANGER, "mm2-offset-syncs.ith5.internal", "mm2-configs.ith5.internal"}
    assert all(t.startswith("ith5.") for t in listed - EVENT_TOPICS - {f"{t}.dlq" for t in EVENT_TOPICS}), listed


async def test_a_topic_with_other_settings_stops_the_start_naming_it(
    services: KafkaBus, admin: KafkaBus, cluster: tuple[str, Path]
) -> None:
    """The services may not change a topic's settings (the topic operator owns them): a DLQ found at 7 days
    instead of 30 makes ensure_topics refuse, naming the topic, instead of silently keeping it."""
    dlq = "training.events.dlq"
    client = AIOKafkaAdminClient(bootstrap_servers=cluster[0], **admin.security)
    await client.start()
    try:
        week = {"retention.ms": "604800000", "cleanup.policy": "delete"}
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, dlq, configs=week)])
        with pytest.raises(RuntimeError, match=r"topic training\.events\.dlq: setting .* failed \(29 "):
            await services.ensure_topics([dlq])
    finally:
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, dlq, configs=topic_configs(dlq))])
        await client.close()
    await services.ensure_topics([dlq])  # as the chart's KafkaTopic has it again: nothing to change


# --- MirrorMaker 2 as the chart's MirrorMaker user -----------------------------------------------------------
# deploy/native/mirrormaker.sh runs MirrorMaker 2 in dedicated mode, where Kafka Connect's group and
# internal topics are named by the flow (MirrorMakerConfig: <source>-mm2, mm2-{configs,status,offsets}.
# <source>.internal) instead of the KafkaMirrorMaker2's groupId and *StorageTopic: the chart's rules for
# those are given these names; every other rule is used as rendered. The chart runs no heartbeat connector
# into this cluster, so the flow's own heartbeats (emit.heartbeats) are off here too.
DEDICATED = {
    "cg-kafka-mirrormaker2": "ith5-mm2",
    "cg-kafka-mirrormaker2-config": "mm2-configs.ith5.internal",
    "cg-kafka-mirrormaker2-status": "mm2-status.ith5.internal",
    "cg-kafka-mirrormaker2-offsets": "mm2-offsets.ith5.internal",
}


@pytest.fixture(scope="module")
def mirror_user() -> dict[str, Any]:
    user: dict[str, Any] = by_name(render(PRODUCTION), "KafkaUser")[MM2_USER]
    return user


async def _holds(bootstrap: str, security: dict[str, Any], topic: str) -> bool:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await client.start()
    try:
        return topic in await client.list_topics()
    finally:
        await client.close()


async def _set_retention(bootstrap: str, security: dict[str, Any], topic: str, ms: str) -> None:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await client.start()
    try:
        configs = {"retention.ms": ms, "cleanup.policy": "delete"}
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
    finally:
        await client.close()


async def _retention(bootstrap: str, security: dict[str, Any], topic: str) -> str | None:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await client.start()
    try:
        (response,) = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        (_, _, _, _, entries) = response.resources[0]
        return next((str(e[1]) for e in entries if e[0] == "retention.ms"), None)
    finally:
        await client.close()


async def test_mirror_maker_pulls_the_partner_s_topics_with_the_chart_s_rules(
    tmp_path: Path, cluster: tuple[str, Path], mirror_user: dict[str, Any], services: KafkaBus, admin: KafkaBus
) -> None:
    """ITH5's broker (no authorization: what MirrorMaker may read there is the partner's affair) holds an
    event on mapping.events and a heartbeat on its heartbeats topic. MirrorMaker 2 pulling into IE05 as the
    chart's MirrorMaker user (its rules created with kafka-acls) creates ith5.mapping.events and
    ith5.heartbeats here, which the services' user reads, follows ITH5's change of the topic's retention
    (sync.topic.configs: AlterConfigs on ith5.*), keeps the offset syncs here
    (mm2-offset-syncs.ith5.internal) and writes nothing into ITH5's cluster; no authorization error logged.
    (Kafka 4.2's MirrorSourceConnector logs "Could not alter configuration of topic" after every sync, also
    a successful one: its callback does not check for a null error. The retention check is the oracle.)"""
    bootstrap, ca = cluster
    acls = [
        {**a, "resource": {**a["resource"], "name": DEDICATED.get(a["resource"]["name"], a["resource"]["name"])}}
        for a in mirror_user["spec"]["authorization"]["acls"]
    ]
    for args in acl_commands(MM2_USER, acls):
        kafka_acls(tmp_path, bootstrap, ca, args)
    partner, partner_bootstrap = backends.native_kafka_region(tmp_path, "ith5")
    mm2: backends.NativeProcess | None = None
    try:
        at_partner = KafkaBus(partner_bootstrap, client_id="acl-test-ith5", partitions=1)
        try:
            await at_partner.ensure_topics(["mapping.events", "heartbeats"])
            sent = event(5, region="ITH5")
            await at_partner.publish("mapping.events", [sent])
            key, value = heartbeat("ie05", "ith5", T_HEARTBEAT_MS + 60_000)  # written by ITH5's own MirrorMaker
            await (await at_partner._get_producer()).send_and_wait("heartbeats", value=value, key=key)
        finally:
            await at_partner.close()
        props = tmp_path / "mm2-security.properties"
        props.write_text(
            "ie05.security.protocol=SASL_SSL\nie05.sasl.mechanism=SCRAM-SHA-512\n"
            "ie05.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{MM2_USER}" password="{MM2_PASSWORD}";\n'
            f"ie05.ssl.truststore.type=PEM\nie05.ssl.truststore.location={ca}\n"
            "ith5->ie05.emit.heartbeats.enabled=false\n"
        )
        log = tmp_path / "mm2.log"
        mm2 = backends.NativeProcess(
            "mirrormaker2",
            [
                "env",
                "MM2_INTO=ie05",
                f"MM2_PROPERTIES_FILE={props}",
                str(backends.NATIVE / "mirrormaker.sh"),
                str(tmp_path / "mm2"),
                f"ie05={bootstrap}",
                f"ith5={partner_bootstrap}",
            ],
            log,
            lambda: "Kafka MirrorMaker started" in log.read_text(errors="replace"),
        )
        mm2.start(timeout_s=240)
        got: list[CloudEvent] = []

        async def replicated() -> bool:  # the event, readable by the services, and the offset syncs kept here
            if await _holds(bootstrap, services.security, "ith5.mapping.events"):
                got[:] = [e async for _, e in services.read(["ith5.mapping.events"])]
            return bool(got) and await _holds(bootstrap, admin.security, "mm2-offset-syncs.ith5.internal")

        async def beating() -> bool:  # written at 12:31 UTC in ITH5, read here by the services
            return await partner_heartbeats(services, "IE05") == {"ITH5": datetime(2027, 3, 1, 12, 31, tzinfo=UTC)}

        # bounded waits for outcomes, not speed checks
        await eventually(replicated, 180, "ith5.mapping.events and mm2-offset-syncs.ith5.internal in IE05")
        await eventually(beating, 60, "ITH5's heartbeat read from ith5.heartbeats")
        assert [(e.id, e.region) for e in got] == [(sent.id, "ITH5")]
        # sync.topic.configs as the chart sets it: ITH5 changes its topic's retention, MirrorMaker alters ours
        await _set_retention(partner_bootstrap, {}, "mapping.events", "864000000")

        async def synced() -> bool:
            return await _retention(bootstrap, admin.security, "ith5.mapping.events") == "864000000"

        await eventually(synced, 120, "retention.ms=864000000 on ith5.mapping.events in IE05")
        partner_topics = await KafkaBus(partner_bootstrap, client_id="acl-test-ith5").topic_names()
        assert not [t for t in partner_topics if t.startswith("mm2-") or t.startswith("ie05.")], partner_topics
        text = log.read_text(errors="replace")
        assert "AuthorizationException" not in text and "not authorized" not in text.lower(), mm2.tail(60)
    finally:
        if mm2 is not None:
            mm2.stop()
        partner.stop()
