"""Real backends for the tests, found in this order:

1. endpoints from the environment: ``CG_TEST_KAFKA`` (bootstrap) and ``CG_TEST_MONGO_URL``;
2. a Docker engine, through testcontainers (official Kafka and MongoDB images);
3. native processes provisioned by ``deploy/native/provision.sh``: Apache Kafka in KRaft mode from
   jars resolved by Maven, and FerretDB v1 (SQLite handler) built with Go.

Nothing here ever skips: a backend that cannot be had is an error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "deploy" / "native"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: all bound at once, then released (``free_port`` called n times may hand
    the same port out twice, and a broker refuses two listeners on one port)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no engine here
        return False


def provision(what: str) -> str:
    out = subprocess.run([str(NATIVE / "provision.sh"), what], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


async def _kafka_ready(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections are expected while the broker starts
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False
    finally:
        await admin.close()
        quiet.setLevel(level)


def _in_own_loop(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh loop in a worker thread (callers may be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _mongo_ready(url: str, **options: Any) -> bool:
    from pymongo import MongoClient

    client: MongoClient[Any] = MongoClient(url, serverSelectionTimeoutMS=1000, **options)
    try:
        client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False
    finally:
        client.close()


@dataclass
class NativeProcess:
    """A backend process we started; can be killed hard and restarted on the same port and data."""

    name: str
    argv: list[str]
    log: Path
    ready: Any
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self, timeout_s: float = 90) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log:\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"{self.name} was not ready within {timeout_s}s; log:\n{self.tail()}")

    def kill(self) -> None:
        """kill -9 the whole process group (the JVM, not only its launcher script)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def native_kafka(workdir: Path) -> tuple[NativeProcess, str]:
    provision("kafka")
    port, cport = free_ports(2)
    bootstrap = f"127.0.0.1:{port}"
    p = NativeProcess(
        "kafka",
        [str(NATIVE / "kafka.sh"), str(workdir / "kafka"), str(port), str(cport)],
        workdir / "kafka.log",
        lambda: _in_own_loop(_kafka_ready(bootstrap)),
    )
    p.start()
    return p, bootstrap


def native_ferretdb(workdir: Path) -> tuple[NativeProcess, str]:
    binary = provision("ferretdb")
    port = free_port()
    url = f"mongodb://127.0.0.1:{port}/"
    p = NativeProcess(
        "ferretdb",
        [binary, "-listen", f"127.0.0.1:{port}", "-dir", str(workdir / "ferretdb"), "-synchronous", "normal"],
        workdir / "ferretdb.log",
        lambda: _mongo_ready(url),
    )
    p.start()
    return p, url


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def native_redis(workdir: Path) -> tuple[NativeProcess, str]:
    launcher = provision("redis")
    port = free_port()
    p = NativeProcess(
        "redis",
        [launcher, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        workdir / "redis.log",
        lambda: _redis_ready(port),
    )
    p.start()
    return p, f"redis://127.0.0.1:{port}/0"


# TLS variants: the same native backends with TLS listeners, for tests/integration/test_tls.py. The
# certificates are the caller's (PEM files it generated); these only start the processes.


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS listener: the CA that signed the server certificate, and the server's own."""

    ca: Path
    cert: Path
    key: Path


def _tls_ready(port: int, ca: Path, probe: bytes = b"", expect: bytes = b"") -> bool:
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                if not probe:
                    return True
                s.sendall(probe)
                return s.recv(64).startswith(expect)
    except OSError:
        return False


def native_redis_tls(workdir: Path, tls: TlsFiles, password: str) -> tuple[NativeProcess, str]:
    """Debian's redis-server listening with TLS only (``--port 0``), clients authenticated by password
    (no client certificate asked); returns the process and its ``rediss://`` URL (no password in it)."""
    launcher = provision("redis")
    port = free_port()
    auth = f"AUTH {password}\r\nPING\r\n".encode()
    options = {
        "bind": "127.0.0.1",
        "port": "0",
        "tls-port": str(port),
        "tls-cert-file": str(tls.cert),
        "tls-key-file": str(tls.key),
        "tls-ca-cert-file": str(tls.ca),
        "tls-auth-clients": "no",
        "requirepass": password,
        "save": "",
        "appendonly": "no",
    }
    p = NativeProcess(
        "redis-tls",
        [launcher, *(arg for name, value in options.items() for arg in (f"--{name}", value))],
        workdir / "redis-tls.log",
        lambda: _tls_ready(port, tls.ca, auth, b"+OK"),
    )
    p.start()
    return p, f"rediss://127.0.0.1:{port}/0"


def native_ferretdb_tls(workdir: Path, tls: TlsFiles, client_pem: Path) -> tuple[NativeProcess, str]:
    """FerretDB with a TLS listener only (the plaintext one off), asking every client for a certificate
    issued by ``tls.ca`` (mutual TLS); ``client_pem`` (certificate and key) is what the readiness probe
    presents. Returns the process and its URL, with no TLS options in it: the settings give them."""
    binary = provision("ferretdb")
    port = free_port()
    url = f"mongodb://127.0.0.1:{port}/"
    args = ["-listen", "", "-listen-tls", f"127.0.0.1:{port}", "-tls-cert", str(tls.cert), "-tls-key", str(tls.key)]
    p = NativeProcess(
        "ferretdb-tls",
        [binary, *args, "-tls-ca", str(tls.ca), "-dir", str(workdir / "ferretdb"), "-synchronous", "normal"],
        workdir / "ferretdb-tls.log",
        lambda: _mongo_ready(url, tls=True, tlsCAFile=str(tls.ca), tlsCertificateKeyFile=str(client_pem)),
    )
    p.start()
    return p, url


class BackendRetryWarning(UserWarning):
    """A backend's setup step failed once and passed when tried again: shown in the run's warnings
    summary (pyproject's filter on its message keeps it a warning; every other warning is an error)."""


def _format_kraft_storage(java: list[str], props: Path, logs: Path, extra: Sequence[str] = ()) -> None:
    """Format a fresh KRaft log directory (``StorageTool format --standalone``) under a new cluster id.

    A failed format is tried once more on an emptied directory with another cluster id, and its output is
    kept as a warning (CI once lost a format with no word of why); a second failure raises with both
    outputs, so that a broken setup still fails the run."""
    outputs: list[str] = []
    for _ in range(2):
        cluster = "-"
        while cluster.startswith("-"):  # what StorageTool random-uuid prints, without starting a JVM for it
            cluster = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        argv = [*java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(props), "--standalone", *extra]
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
        if done.returncode == 0:
            if outputs:
                warnings.warn(BackendRetryWarning(f"KRaft storage format failed once: {outputs[0]}"), stacklevel=2)
            return
        said = done.stderr + done.stdout  # the exception's first line, then the rest
        said = said if len(said) <= 4000 else f"{said[:2000]} […] {said[-2000:]}"
        outputs.append(f"exit {done.returncode} (cluster id {cluster}): {said}")
        shutil.rmtree(logs, ignore_errors=True)
    raise RuntimeError("KRaft storage format failed twice:\n" + "\n".join(outputs))


@dataclass(frozen=True)
class KafkaTls:
    """A native broker's listeners: PLAINTEXT (readiness, inter-broker), SSL asking a client certificate
    (mutual TLS), SASL_SSL with SCRAM-SHA-256/512 users (server-authenticated TLS)."""

    plaintext: str
    ssl: str
    sasl_ssl: str


def native_kafka_tls(
    workdir: Path, tls: TlsFiles, scram_users: dict[str, str], *, super_users: Sequence[str] = ()
) -> tuple[NativeProcess, KafkaTls]:
    """A single-node KRaft broker with an SSL and a SASL_SSL listener (PEM key store and trust store,
    ``ssl.keystore.type=PEM``); ``scram_users`` (name -> password) are written with the storage format's
    ``--add-scram``, for both SCRAM mechanisms. ``tls.key`` is an unencrypted PKCS#8 key (Java 17 does
    not read PBES2-encrypted PEM keys). With ``super_users`` (SCRAM user names) the broker authorizes with
    Kafka's StandardAuthorizer: those users and the PLAINTEXT/controller listeners' ANONYMOUS (the broker
    talking to itself) may do anything, everyone else only what an ACL allows."""
    libs = provision("kafka")
    data = workdir / "kafka-tls"
    data.mkdir(parents=True, exist_ok=True)
    plain, ssl_port, sasl_port, cport = free_ports(4)
    keystore = data / "server-keystore.pem"  # the private key, then the certificate chain
    keystore.write_text(tls.key.read_text() + tls.cert.read_text())
    listeners = f"PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl_port},SASL_SSL://127.0.0.1:{sasl_port}"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    props = data / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
                f"listeners={listeners},CONTROLLER://127.0.0.1:{cport}",
                f"advertised.listeners={listeners},CONTROLLER://127.0.0.1:{cport}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={tls.ca}",
                "listener.name.ssl.ssl.client.auth=required",
                "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
                f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram}",
                f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram}",
                f"log.dirs={data / 'logs'}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                *(
                    [
                        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                        "super.users=" + ";".join(f"User:{u}" for u in ["ANONYMOUS", *super_users]),
                    ]
                    if super_users
                    else []
                ),
                "",
            ]
        )
    )
    (data / "log4j2.properties").write_text(
        "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=out\nappender.out.type=Console\n"
        "appender.out.name=out\nappender.out.layout.type=PatternLayout\nappender.out.layout.pattern=%p %m (%c)%n\n"
    )
    log4j = f"-Dlog4j2.configurationFile={data / 'log4j2.properties'}"
    java = ["java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", log4j, "-cp", f"{libs}/*"]
    if not (data / "logs" / "meta.properties").exists():
        users = [
            f"{m}=[name={u},password={pw}]" for u, pw in scram_users.items() for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        ]
        _format_kraft_storage(java, props, data / "logs", [a for u in users for a in ("--add-scram", u)])
    bootstrap = f"127.0.0.1:{plain}"
    p = NativeProcess(
        "kafka-tls",
        [*java, "kafka.Kafka", str(props)],
        workdir / "kafka-tls.log",
        lambda: _in_own_loop(_kafka_ready(bootstrap)),
    )
    p.start()
    return p, KafkaTls(bootstrap, f"127.0.0.1:{ssl_port}", f"127.0.0.1:{sasl_port}")


# Federation: one broker per region and Kafka MirrorMaker 2 between them (tests/federation, bench).


def native_kafka_region(workdir: Path, name: str, retention_check_ms: int = 1000) -> tuple[NativeProcess, str]:
    """A single-node KRaft broker of its own for region ``name`` (its own data directory and cluster id),
    as ``deploy/native/kafka.sh`` configures one, with a smaller heap (three JVMs share the machine) and
    the log cleaner's retention check every ``retention_check_ms`` (the broker's default is 5 minutes), so
    that a test sees the broker's default 7-day retention delete old records at once."""
    libs = provision("kafka")
    data = workdir / f"kafka-{name}"
    data.mkdir(parents=True, exist_ok=True)
    port, cport = free_ports(2)
    props = data / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data / 'logs'}",
                "num.partitions=3",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=5",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "min.insync.replicas=1",
                "group.initial.rebalance.delay.ms=0",
                f"log.retention.check.interval.ms={retention_check_ms}",
                "",
            ]
        )
    )
    (data / "log4j2.properties").write_text(
        "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=out\nappender.out.type=Console\n"
        "appender.out.name=out\nappender.out.layout.type=PatternLayout\nappender.out.layout.pattern=%p %m (%c)%n\n"
    )
    log4j = f"-Dlog4j2.configurationFile={data / 'log4j2.properties'}"
    java = ["java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", log4j, "-cp", f"{libs}/*"]
    if not (data / "logs" / "meta.properties").exists():
        _format_kraft_storage(java, props, data / "logs")
    bootstrap = f"127.0.0.1:{port}"
    p = NativeProcess(
        f"kafka-{name}",
        [*java, "kafka.Kafka", str(props)],
        workdir / f"kafka-{name}.log",
        lambda: _in_own_loop(_kafka_ready(bootstrap)),
    )
    p.start()
    return p, bootstrap


async def _topics(bootstrap: str) -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        return set(await admin.list_topics())
    except Exception:  # noqa: BLE001 - a broker down counts as: nothing there
        return set()
    finally:
        await admin.close()


def native_mirrormaker(workdir: Path, clusters: dict[str, str]) -> NativeProcess:
    """Kafka MirrorMaker 2 (``deploy/native/mirrormaker.sh``, dedicated mode) replicating the event
    topics of every cluster (alias -> bootstrap) to every other. Ready, also after a restart, when it
    logs that it started again and each cluster holds every partner's heartbeats replica
    (``<alias>.heartbeats``): both directions flow. Kill it with ``kill()`` (-9), start it again."""
    argv = [str(NATIVE / "mirrormaker.sh"), str(workdir / "mm2"), *(f"{a}={b}" for a, b in clusters.items())]
    log = workdir / "mm2.log"
    starts = {"seen": 0}

    def started() -> int:
        try:
            return log.read_text(errors="replace").count("Kafka MirrorMaker started")
        except OSError:
            return 0

    def ready() -> bool:
        if started() <= starts["seen"]:
            return False
        for alias, bootstrap in clusters.items():
            present = _in_own_loop(_topics(bootstrap))
            if any(f"{other}.heartbeats" not in present for other in clusters if other != alias):
                return False
        return True

    class MirrorMaker(NativeProcess):
        def start(self, timeout_s: float = 240) -> None:
            starts["seen"] = started()
            super().start(timeout_s)

    return MirrorMaker("mirrormaker2", argv, log, ready)
