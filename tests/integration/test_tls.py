"""Transport security against real TLS listeners, with certificates made here (``cryptography``): Debian's
redis-server with TLS only and a password, a native Kafka broker with an SSL listener asking a client
certificate and a SASL_SSL listener with SCRAM users, and FerretDB with a TLS listener only, asking a
client certificate. The clients are built from the settings exactly as the services build them
(``RedisCounter``, ``KafkaBus`` with ``security_options``, ``open_store`` with ``client_options``). The oracle
for "TLS is really on": a client trusting another CA is refused, and so is one speaking plaintext."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError
from redis.exceptions import AuthenticationError, ConnectionError

from clustergrowth.bus.kafka import KafkaBus, security_options
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store import open_store
from clustergrowth.store.mongo import client_options
from gateway.limits import RedisCounter
from tests import backends
from tests.conftest import USED

pytestmark = pytest.mark.integration

REDIS_PASSWORD = "quota-store-Pw-2026"
SCRAM_USER, SCRAM_PASSWORD = "cg-ie05", "scram-Pw-of-ie05-2026"
NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path, password: str = "") -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


class Ca:
    """A certificate authority made for the test, issuing server and client certificates."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.key = folder, ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(minutes=5))
            .not_valid_after(NOW + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # key_cert_sign, crl_sign
            .sign(self.key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        self.path = _write_cert(self.cert, folder / f"{name}.pem")

    def issue(self, name: str, *, server: bool, key_password: str = "") -> tuple[Path, Path]:
        """(certificate, PKCS#8 key) for 127.0.0.1/localhost (server) or a client named ``name``."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(minutes=5))
            .not_valid_after(NOW + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return (
            _write_cert(cert, self.folder / f"{name}.crt.pem"),
            _write_key(key, self.folder / f"{name}.key.pem", key_password),
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The region's CA (server and client certificates) and a stranger's CA that trusts nothing here."""
    folder = tmp_path_factory.mktemp("pki")
    ours, stranger = Ca(folder, "region-ca"), Ca(folder, "stranger-ca")
    server_cert, server_key = ours.issue("server", server=True)
    client_cert, client_key = ours.issue("cg-client", server=False)
    strange_cert, strange_key = stranger.issue("intruder", server=False)
    return {
        "ca": ours.path,
        "stranger_ca": stranger.path,
        "server_cert": server_cert,
        "server_key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
        "strange_cert": strange_cert,
        "strange_key": strange_key,
    }


# --- Redis: rediss:// and a password --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_tls(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[str]:
    tls = backends.TlsFiles(pki["ca"], pki["server_cert"], pki["server_key"])
    proc, url = backends.native_redis_tls(tmp_path_factory.mktemp("redis-tls"), tls, REDIS_PASSWORD)
    USED["redis-tls"] = f"native redis-server with TLS only at {url}"
    try:
        yield url
    finally:
        proc.stop()


def quota_settings(pki: dict[str, Path], *, ca: str = "ca", password: str = REDIS_PASSWORD) -> RuntimeSettings:
    return RuntimeSettings(
        environment="production",
        auth_issuer="https://login.example.org",
        redis_password=password,
        redis_ca_file=pki[ca],
    )


async def test_the_quota_store_counts_over_tls_with_its_password(redis_tls: str, pki: dict[str, Path]) -> None:
    counter = RedisCounter(redis_tls, settings=quota_settings(pki), timeout_s=2)
    try:
        key = f"tls-{uuid.uuid4().hex}"
        assert [await counter.hit(key, 7, 60) for _ in range(3)] == [1, 2, 3]
        assert not counter.degraded  # counted in Redis, not in the replica's memory
        assert await counter.client.get(f"cg:quota:{key}:7") == b"3"
        assert 0 < await counter.client.ttl(f"cg:quota:{key}:7") <= 60
    finally:
        await counter.aclose()


async def test_redis_refuses_a_client_of_another_ca_plaintext_and_a_wrong_password(
    redis_tls: str, pki: dict[str, Path]
) -> None:
    wrong_ca = redis.asyncio.from_url(redis_tls, password=REDIS_PASSWORD, ssl_ca_certs=str(pki["stranger_ca"]))
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        await wrong_ca.ping()
    await wrong_ca.aclose()
    plaintext = redis.asyncio.from_url(redis_tls.replace("rediss://", "redis://"), password=REDIS_PASSWORD)
    with pytest.raises(ConnectionError):  # the TLS port does not speak plaintext RESP
        await plaintext.ping()
    await plaintext.aclose()
    wrong_password = redis.asyncio.from_url(redis_tls, password="not-the-Pw-2026", ssl_ca_certs=str(pki["ca"]))
    with pytest.raises(AuthenticationError):
        await wrong_password.ping()
    await wrong_password.aclose()
    # and the gateway's counter with the stranger's CA falls back to its own memory, not to plaintext
    counter = RedisCounter(redis_tls, settings=quota_settings(pki, ca="stranger_ca"), timeout_s=2)
    assert await counter.hit(f"tls-{uuid.uuid4().hex}", 1, 60) == 1
    assert counter.degraded
    await counter.aclose()


# --- Kafka: SSL with a client certificate, SASL_SSL with SCRAM -------------------------------------------------


@pytest.fixture(scope="module")
def kafka_tls(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[backends.KafkaTls]:
    tls = backends.TlsFiles(pki["ca"], pki["server_cert"], pki["server_key"])
    proc, listeners = backends.native_kafka_tls(tmp_path_factory.mktemp("kafka-tls"), tls, {SCRAM_USER: SCRAM_PASSWORD})
    USED["kafka-tls"] = f"native KRaft broker, SSL at {listeners.ssl}, SASL_SSL at {listeners.sasl_ssl}"
    try:
        yield listeners
    finally:
        proc.stop()


def kafka_bus(bootstrap: str, **settings: object) -> KafkaBus:
    s = RuntimeSettings(kafka_bootstrap=bootstrap, **settings)  # type: ignore[arg-type]
    return KafkaBus(s.kafka_bootstrap, client_id="tls-test", partitions=1, security=security_options(s))


async def round_trip(bus: KafkaBus) -> None:
    """Create a topic, publish one event and read it back: producer, admin and consumer all over TLS."""
    topic = f"tls.{uuid.uuid4().hex[:8]}"
    event = CloudEvent(
        type="eu.smeclustergrowth.test.Tls.v1", source="/tls", data={"n": 1}, region="IE05", partitionkey="k"
    )
    try:
        await bus.ensure_topics([topic])
        await bus.publish(topic, [event])
        got = [e async for _, e in bus.read([topic])]
        assert [(e.id, e.data) for e in got] == [(event.id, {"n": 1})]
    finally:
        await bus.close()


async def test_kafka_over_mutual_tls(kafka_tls: backends.KafkaTls, pki: dict[str, Path]) -> None:
    await round_trip(
        kafka_bus(
            kafka_tls.ssl,
            kafka_security_protocol="SSL",
            kafka_ssl_cafile=pki["ca"],
            kafka_ssl_certfile=pki["client_cert"],
            kafka_ssl_keyfile=pki["client_key"],
        )
    )


async def test_kafka_over_sasl_ssl_with_scram(kafka_tls: backends.KafkaTls, pki: dict[str, Path]) -> None:
    for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
        await round_trip(
            kafka_bus(
                kafka_tls.sasl_ssl,
                kafka_security_protocol="SASL_SSL",
                kafka_ssl_cafile=pki["ca"],
                kafka_sasl_mechanism=mechanism,
                kafka_sasl_username=SCRAM_USER,
                kafka_sasl_password=SCRAM_PASSWORD,
            )
        )


async def refused(caplog: pytest.LogCaptureFixture, bus: KafkaBus) -> str:
    """What the client logged and raised when the broker would not have it."""
    caplog.clear()
    try:
        with caplog.at_level(logging.DEBUG, logger="aiokafka"), pytest.raises(KafkaConnectionError) as e:
            await bus.ping()
        return f"{e.value}\n{caplog.text}"
    finally:
        await bus.close()


async def test_kafka_refuses_another_ca_no_certificate_plaintext_and_a_wrong_password(
    kafka_tls: backends.KafkaTls, pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    base = {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": pki["ca"]}
    mutual = {**base, "kafka_ssl_certfile": pki["client_cert"], "kafka_ssl_keyfile": pki["client_key"]}
    unknown_broker = await refused(
        caplog, kafka_bus(kafka_tls.ssl, **{**mutual, "kafka_ssl_cafile": pki["stranger_ca"]})
    )
    assert "CERTIFICATE_VERIFY_FAILED" in unknown_broker
    # the broker hangs up on a client without a certificate, with one of another CA, and on plaintext
    strange = {"kafka_ssl_certfile": pki["strange_cert"], "kafka_ssl_keyfile": pki["strange_key"]}
    for client in (base, {**mutual, **strange}, {}):
        assert f"Connection at {kafka_tls.ssl} closed" in await refused(caplog, kafka_bus(kafka_tls.ssl, **client))
    sasl = {
        **base,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": SCRAM_USER,
        "kafka_sasl_password": "wrong-scram-Pw-2026",
    }
    wrong_password = await refused(caplog, kafka_bus(kafka_tls.sasl_ssl, **sasl))
    assert "SaslAuthenticationFailed" in wrong_password and "invalid credentials" in wrong_password
    assert "wrong-scram-Pw-2026" not in wrong_password  # not even in aiokafka's debug log
    sasl_unknown_broker = {**sasl, "kafka_sasl_password": SCRAM_PASSWORD, "kafka_ssl_cafile": pki["stranger_ca"]}
    assert "CERTIFICATE_VERIFY_FAILED" in await refused(caplog, kafka_bus(kafka_tls.sasl_ssl, **sasl_unknown_broker))


# --- MongoDB protocol: FerretDB's TLS listener, client certificates required -----------------------------------


def client_pem(pki: dict[str, Path], name: str) -> Path:
    """pymongo's ``tlsCertificateKeyFile``: the client's certificate and key in one PEM file."""
    path = pki["ca"].parent / f"{name}.mongo.pem"
    cert, key = pki[f"{name}_cert"], pki[f"{name}_key"]
    path.write_bytes(cert.read_bytes() + key.read_bytes())
    return path


@pytest.fixture(scope="module")
def mongo_tls(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[str]:
    tls = backends.TlsFiles(pki["ca"], pki["server_cert"], pki["server_key"])
    proc, url = backends.native_ferretdb_tls(tmp_path_factory.mktemp("ferretdb-tls"), tls, client_pem(pki, "client"))
    USED["ferretdb-tls"] = f"native FerretDB with a TLS listener only, client certificates required, at {url}"
    try:
        yield url
    finally:
        proc.stop()


def mongo_settings(url: str, pki: dict[str, Path], *, ca: str = "ca", client: str | None = "client") -> RuntimeSettings:
    """A production service's MongoDB settings, as the chart and Compose give them."""
    return RuntimeSettings(
        store="mongo",
        mongo_url=url,
        mongo_tls=True,
        mongo_tls_ca_file=pki[ca],
        mongo_tls_certificate_key_file=client_pem(pki, client) if client else None,
    )


async def test_the_store_writes_and_reads_over_mutual_tls(mongo_tls: str, pki: dict[str, Path]) -> None:
    store = open_store(mongo_settings(mongo_tls, pki), "tlscheck")
    try:
        id = f"tls-{uuid.uuid4().hex}"
        await store.insert("things", {"_id": id, "version": 1, "n": 7})
        assert await store.replace("things", {"_id": id, "version": 2, "n": 8}, 1)
        assert await store.get("things", id) == {"_id": id, "version": 2, "n": 8}
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("how", "complaint"),
    [
        ({"ca": "stranger_ca"}, "certificate verify failed"),  # the server is not the region's
        ({"client": "strange"}, ""),  # a certificate of another CA: the server hangs up
        ({"client": None}, ""),  # no certificate at all
    ],
)
async def test_the_store_is_refused_without_the_region_s_ca_or_certificate(
    mongo_tls: str, pki: dict[str, Path], how: dict[str, Any], complaint: str
) -> None:
    settings = mongo_settings(mongo_tls, pki, **how)
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        settings.mongo_url, serverSelectionTimeoutMS=2000, **client_options(settings)
    )
    try:
        with pytest.raises(ServerSelectionTimeoutError) as e:
            await client.admin.command("ping")
        assert complaint in str(e.value)
    finally:
        await client.close()


async def test_the_tls_port_does_not_speak_plaintext(mongo_tls: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_tls, serverSelectionTimeoutMS=2000)
    try:
        with pytest.raises(ServerSelectionTimeoutError):
            await client.admin.command("ping")
    finally:
        await client.close()
