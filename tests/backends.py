"""Real backends for the tests, found in this order:

1. endpoints from the environment: ``CG_TEST_KAFKA`` (bootstrap) and ``CG_TEST_MONGO_URL``;
2. a Docker engine, through testcontainers (official Kafka and MongoDB images);
3. native processes provisioned by ``deploy/native/provision.sh``: Apache Kafka in KRaft mode from
   jars resolved by Maven, and FerretDB v1 (SQLite handler) built with Go.

Nothing here ever skips: a backend that cannot be had is an error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "deploy" / "native"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def _mongo_ready(url: str) -> bool:
    from pymongo import MongoClient

    client: MongoClient[Any] = MongoClient(url, serverSelectionTimeoutMS=1000)
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
    port, cport = free_port(), free_port()
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
