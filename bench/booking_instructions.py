"""User-space instructions per booking, under callgrind: the split API's booking route against the bare endpoints.

bench.contention judges bookings/s in the same run, but the machine's speed moves by a fifth from one
few-second window to the next, about the gap between the split API and its target; an instruction count
does not move. Each server runs as ``bench.contention`` runs it (the split API: ``clustergrowth run``
with every relay and consumer off, its worker beside it on the same data folder at niceness 10, not
counted; the bare Starlette endpoint and the same endpoint as a FastAPI route, ``bench.bare_booking``),
here under valgrind's callgrind (Debian's ``valgrind``, installed if missing; ``bench.edge_instructions``
counts the gateway's front so). ``--warm`` bookings warm it up, its counters are zeroed
(``callgrind_control -z``), ``--bookings`` bookings go through it on 8 keep-alive connections, each its own
slot (all answered 201, checked), and the counters are dumped (``callgrind_control -d``): the total,
divided by the count, is the instructions a booking, every thread of the process (the store's statement
thread too). The kernel's share (sockets, SQLite's file writes, the GIL's futexes) is not counted:
bench.contention's CPU time has it. The ratio bare / split API is what bench.contention's target (≥ 0.6)
would be on a machine whose speed held still and gave the split API the whole core.

Run: ``python -m bench.booking_instructions`` (part of ``make bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.bare_booking import relay_command
from bench.common import write_result
from bench.contention import CLI, _free_port, _platform_setup, _ready, _relaying, _switches
from bench.edge_instructions import dumped_total, ensure_valgrind
from bench.gateway import stop_all

CONNECTIONS = 8


async def book(url: str, ids: list[str], auth: str, first: int, n: int) -> None:
    """Exactly ``n`` bookings, slots ``first`` .. ``first + n - 1`` (desk, then hour of a day, as
    bench.contention's script lays them out), on ``CONNECTIONS`` keep-alive connections; each must be 201."""
    day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    slots = iter(range(first, first + n))
    headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)

    async def worker(client: httpx.AsyncClient) -> None:
        for slot in slots:
            desk, rest = ids[slot % len(ids)], slot // len(ids)
            start = day0 + timedelta(days=rest // 23, hours=rest % 23)
            body = {"resource_id": desk, "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
            r = await client.post("/api/v1/facilities/bookings", content=json.dumps(body), headers=headers)
            if r.status_code != 201:
                raise RuntimeError(f"slot {slot}: {r.status_code} {r.text[:300]}")

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))


def count(pid: int, url: str, ids: list[str], auth: str, a: argparse.Namespace, out: Path) -> float:
    """Instructions a booking of the server whose valgrind runs as ``pid``."""
    asyncio.run(book(url, ids, auth, 0, a.warm))
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    asyncio.run(book(url, ids, auth, a.warm, a.bookings))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    return dumped_total(out, pid) / a.bookings


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bookings", type=int, default=1500, help="counted bookings per server (after the warm-up)")
    p.add_argument("--warm", type=int, default=500, help="bookings before the count")
    a = p.parse_args(argv)
    valgrind = ensure_valgrind()
    tmp = Path(tempfile.mkdtemp(prefix="bench-booking-instructions-"))
    base = {**os.environ, "CG_LOG_LEVEL": "WARNING", "CG_SEED_DEMO": "false", "CG_GATEWAY_RATE_LIMITS": "false"}
    base.pop("CG_CPU_NICENESS", None)
    split_env = {**base, "CG_DATA_DIR": str(tmp / "split")}
    ports = {n: _free_port() for n in ("api", "worker", "bare", "bare_fastapi")}
    url = {n: f"http://127.0.0.1:{port}" for n, port in ports.items()}
    out = {n: tmp / f"{n}.callgrind" for n in ("api", "bare", "bare_fastapi")}
    grind = [valgrind, "-q", "--tool=callgrind"]
    bare_ids = [f"res-{i:012d}" for i in range(50)]  # as long as the platform's resource ids
    log = open(tmp / "servers.log", "wb")
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, command: list[str], env: dict[str, str]) -> None:
        procs[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    per_booking: dict[str, float] = {}
    try:
        worker_env = {**split_env, **_switches(True), "CG_CPU_NICENESS": "10"}
        start("worker", [CLI, "run", "--port", str(ports["worker"])], worker_env)
        asyncio.run(_ready(url["worker"], procs["worker"]))  # it has migrated the stores before the API opens them
        # valgrind runs the process itself (no launcher in between): its pid is the one callgrind_control names
        api = [*grind, f"--callgrind-out-file={out['api']}.%p", CLI, "run", "--port", str(ports["api"])]
        start("api", api, {**split_env, **_switches(False)})
        for name, framework in (("bare", "starlette"), ("bare_fastapi", "fastapi")):
            (tmp / name).mkdir()
            command = [*grind, f"--callgrind-out-file={out[name]}.%p", sys.executable, "-m", "bench.bare_booking"]
            command += ["--port", str(ports[name]), "--data", str(tmp / name), "--resources", ",".join(bare_ids)]
            start(name, [*command, "--framework", framework], base)
        for name in ("api", "bare", "bare_fastapi"):
            asyncio.run(_ready(url[name], procs[name], within_s=1200, probe_s=30, pause_s=1))  # minutes under valgrind
        for name in ("bare", "bare_fastapi"):  # their outbox relays, as the split API's worker (uncounted)
            start(f"{name}_relay", relay_command(tmp / name, "10"), base)
            _relaying(procs[f"{name}_relay"], tmp / name / "events.sqlite")
        ids, user = asyncio.run(_platform_setup(url["api"], {**split_env, **_switches(False)}, 50))
        per_booking["split_api"] = count(procs["api"].pid, url["api"], ids, user, a, out["api"])
        per_booking["bare"] = count(procs["bare"].pid, url["bare"], bare_ids, "", a, out["bare"])
        fastapi = count(procs["bare_fastapi"].pid, url["bare_fastapi"], bare_ids, "", a, out["bare_fastapi"])
        per_booking["bare_fastapi"] = fastapi
        for name in ("bare_relay", "bare_fastapi_relay"):  # a relay that died would have left the outboxes full
            if procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited ({procs[name].returncode}) while its endpoint was counted")
    finally:
        stop_all(list(procs.values())[::-1], timeout_s=60)
        log.close()
    split, bare = per_booking["split_api"], per_booking["bare"]
    result = {
        "request": "POST /api/v1/facilities/bookings, each its own slot (201)",
        "bookings_counted": a.bookings,
        "warm_up_bookings": a.warm,
        "connections": CONNECTIONS,
        "instructions_per_booking": {k: round(v) for k, v in per_booking.items()},
        "ratio_bare_to_split_api": round(bare / split, 3),
        "ratio_bare_to_bare_fastapi": round(bare / per_booking["bare_fastapi"], 3),
        "ratio_bare_fastapi_to_split_api": round(per_booking["bare_fastapi"] / split, 3),
    }
    path = write_result("booking_instructions", result)
    print(
        f"user-space instructions a booking (callgrind, {a.bookings} after {a.warm}): split API {split:,.0f}, "
        f"bare Starlette endpoint {bare:,.0f} -> x{result['ratio_bare_to_split_api']:.3f} (bench.contention's "
        f"target >= 0.6 on bookings/s); the bare endpoint as a FastAPI route {per_booking['bare_fastapi']:,.0f} "
        f"-> x{result['ratio_bare_to_bare_fastapi']:.3f}  [{path}]"
    )
    return result


if __name__ == "__main__":
    main()
