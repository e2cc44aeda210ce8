"""The one-command stack as a user runs it: `clustergrowth run`, real HTTP, `clustergrowth events`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clustergrowth.auth import DevIssuer
from tests.backends import free_port
from tests.helpers import pid, weekday_slots

CLI = str(Path(sys.executable).parent / "clustergrowth")


def env(data: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CG_DATA_DIR": str(data), "CG_LOG_LEVEL": "WARNING", **extra}


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    data.mkdir(parents=True, exist_ok=True)
    log = open(data.parent / "stack.log", "ab")  # a file, not a pipe: a full pipe would block the server
    # one person sends 200 bookings at once below: room for them in the write quota (quotas: component tests)
    quota = {"CG_GATEWAY_RATE_WRITES_PER_PRINCIPAL": "1000"}
    proc = subprocess.Popen([CLI, "run", "--port", str(port)], env=env(data, **quota), stderr=log)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"stack did not start: {(data.parent / 'stack.log').read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(20)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    data, port = tmp_path / "data", free_port()
    proc = start(data, port)
    try:
        yield data, port
    finally:
        stop(proc)


def token(data: Path, *args: str) -> str:
    out = subprocess.run([CLI, "token", *args], env=env(data), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def events(data: Path, *args: str) -> list[dict[str, object]]:
    out = subprocess.run([CLI, "events", *args], env=env(data), capture_output=True, text=True, check=True, timeout=30)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_two_hundred_parallel_requests_one_booking_one_event_and_data_survives_restart(
    stack: tuple[Path, int],
) -> None:
    data, port = stack
    base = f"http://127.0.0.1:{port}/api/v1/facilities"
    tok = token(data, "--sub", "alice", "--role", "student", "--region", "IE05")
    headers = {"Authorization": f"Bearer {tok}"}
    desks = httpx.get(f"{base}/resources", params={"kind": "hot_desk"}, headers=headers).json()
    desk = next(d["id"] for d in desks if d["site_id"] == "ork-rubicon")
    (s, e), *_ = weekday_slots(1)
    body = {"resource_id": desk, "start": s.isoformat(), "end": e.isoformat()}

    async def burst() -> Counter[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as c:
            rs = await asyncio.gather(*[c.post(f"{base}/bookings", json=body) for _ in range(200)])
        return Counter(r.status_code for r in rs)

    assert asyncio.run(burst()) == {201: 1, 409: 199}
    for _ in range(50):
        desk_booked = events(data, "--type", "DeskBooked")
        if desk_booked:
            break
        time.sleep(0.1)
    assert len(desk_booked) == 1
    assert desk_booked[0]["type"] == "eu.smeclustergrowth.facilities.DeskBooked.v1"
    assert desk_booked[0]["specversion"] == "1.0" and desk_booked[0]["region"] == "IE05"
    full = events(data, "--type", "eu.smeclustergrowth.facilities.DeskBooked.v1")
    assert full == desk_booked
    assert len(events(data, "--type", "ResourceListed")) == 8  # its own region's: Cork's 8 resources


def test_restart_keeps_data_and_does_not_seed_twice(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    proc = start(data, port)
    headers = {"Authorization": "Bearer " + token(data, "--sub", "bob", "--role", "academic", "--region", "ITH5")}
    base = f"http://127.0.0.1:{port}/api/v1/facilities"
    (s, e), *_ = weekday_slots(1)
    r = httpx.post(
        f"{base}/bookings",
        headers=headers,
        json={"resource_id": "ork-rubicon-room-1", "start": s.isoformat(), "end": e.isoformat()},
    )
    assert r.status_code == 201
    stop(proc)
    proc = start(data, port)
    try:
        mine = httpx.get(f"{base}/bookings/mine", headers=headers).json()
        assert [b["id"] for b in mine] == [r.json()["id"]]
        assert len(httpx.get(f"{base}/sites", headers=headers).json()) == 1  # one instance, one region
        partners = httpx.get(f"{base}/network/partners", headers=headers).json()  # the others as replicas
        assert [(p["region"], p["resources"]) for p in partners] == [
            (r, 8) for r in ("ES30", "ES61", "FR10", "ITH5", "TR10")
        ]
        analyst = {"Authorization": "Bearer " + token(data, "--sub", "ana", "--role", "analyst", "--region", "IE05")}
        six = {"ES61", "ES30", "ITH5", "IE05", "FR10", "TR10"}
        for _ in range(100):  # the projection follows the event log; give it a moment
            cells = httpx.get(f"http://127.0.0.1:{port}/api/v1/mapping/cluster-map", headers=analyst).json()
            if {c["region"] for c in cells if c["assessed_smes"]} == six:
                break
            time.sleep(0.1)
        assert {c["region"] for c in cells if c["assessed_smes"]} == six
        smes = httpx.get(f"http://127.0.0.1:{port}/api/v1/mapping/smes", headers=analyst, params={"limit": 200})
        assert len(smes.json()) == 8  # Cork's own (the other regions' are partner cells), seeded once, not again
        out = subprocess.run([CLI, "rebuild", "mapping"], env=env(data), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["generation"] == 2 and report["events"] == 8 * 2  # Cork's registered + assessed
        after = httpx.get(f"http://127.0.0.1:{port}/api/v1/mapping/cluster-map", headers=analyst).json()
        assert after == cells  # the rebuilt generation serves the same map
    finally:
        stop(proc)


def test_token_command_refuses_a_production_issuer_and_bad_input(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    prod = env(tmp_path, CG_AUTH_ISSUER="https://login.example.org", CG_AUTH_JWKS_FILE=str(jwks))
    r = subprocess.run(
        [CLI, "token", "--sub", "a", "--role", "student", "--region", "IE05"],
        env=prod,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "refused" in r.stderr and r.stdout == ""
    r = subprocess.run(
        [CLI, "token", "--sub", "a", "--role", "wizard", "--region", "IE05"],
        env=env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "unknown role" in r.stderr
    r = subprocess.run(
        [CLI, "token", "--sub", "a", "--role", "student", "--region", "Cork"],
        env=env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "NUTS-2" in r.stderr
    r = subprocess.run(
        [CLI, "token", "--sub", "a", "--role", "student", "--region", "IE05"],
        env=env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and r.stdout == "" and "no regional stack data" in r.stderr  # a fresh key: 401 later
    r = subprocess.run([CLI, "events"], env=env(tmp_path), capture_output=True, text=True)
    assert r.returncode == 1 and "no regional stack data" in r.stderr and "events.sqlite" in r.stderr
    DevIssuer(tmp_path).private_key()  # what a started stack leaves in its data folder
    r = subprocess.run(
        [CLI, "token", "--sub", "a", "--role", "student", "--region", "IE05"],
        env=env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.count(".") == 2 and f"person {pid('a')}" in r.stderr
    elsewhere = {k: v for k, v in env(tmp_path).items() if k != "CG_DATA_DIR"}
    r = subprocess.run(
        [CLI, "token", "--sub", "a", "--role", "student", "--region", "IE05", "--data-dir", str(tmp_path)],
        env=elsewhere,
        cwd=tmp_path.parent,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.count(".") == 2
    r = subprocess.run([CLI, "events", "--type", "Nope"], env=env(tmp_path), capture_output=True, text=True)
    assert r.returncode == 2 and "unknown event type" in r.stderr
