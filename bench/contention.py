"""Booking contention through the HTTP API of the one-command stack.

Uncontended baseline: N attempts, each on its own slot. Contended: N attempts on S slots (N/S each),
shuffled and in flight together. Reports successes per slot (must be exactly one) and contended
throughput as a ratio of uncontended throughput, both measured in this run on the same stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import write_result

CLI = str(Path(sys.executable).parent / "clustergrowth")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(env: dict[str, str], *args: str) -> str:
    return subprocess.run([CLI, "token", *args], env=env, capture_output=True, text=True, check=True).stdout.strip()


async def _fire(client: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int) -> tuple[float, list[int]]:
    sem = asyncio.Semaphore(concurrency)
    statuses: list[int] = [0] * len(bodies)

    async def one(i: int, body: dict[str, Any]) -> None:
        async with sem:
            try:
                r = await client.post("/api/v1/facilities/bookings", json=body)
                statuses[i] = r.status_code
            except httpx.TransportError:
                statuses[i] = 0  # outcome unknown to the client; the server's state is checked after

    t0 = time.perf_counter()
    await asyncio.gather(*[one(i, b) for i, b in enumerate(bodies)])
    return time.perf_counter() - t0, statuses


async def run(attempts: int, slots: int, concurrency: int, desks: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="bench-contention-"))
    port = _free_port()
    env = {**os.environ, "CG_DATA_DIR": str(data), "CG_LOG_LEVEL": "WARNING", "CG_SEED_DEMO": "false"}
    env["CG_GATEWAY_RATE_LIMITS"] = "false"  # 20,000 requests from one address: measure bookings, not quotas
    server_log = await asyncio.to_thread(open, data / "server.log", "wb")
    proc = await asyncio.to_thread(
        subprocess.Popen, [CLI, "run", "--port", str(port)], env=env, stderr=server_log, stdout=server_log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(150):
                try:
                    if (await probe.get(f"{base}/readyz", timeout=1)).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
        mgr = {
            "Authorization": "Bearer "
            + _token(env, "--sub", "bench-mgr", "--role", "facility_manager", "--region", "IE05", "--org", "Bench")
        }
        user = {
            "Authorization": "Bearer " + _token(env, "--sub", "bench-user", "--role", "student", "--region", "IE05")
        }
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, headers=mgr, timeout=120, limits=limits) as c:
            hours = {
                d: [{"open": "00:00", "close": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            }
            site = (
                await c.post(
                    "/api/v1/facilities/sites",
                    json={
                        "name": "Bench park",
                        "kind": "science_park",
                        "city": "Cork",
                        "address": "bench",
                        "timezone": "UTC",
                        "opening_hours": hours,
                        "organisation": "IE05:Bench",  # the manager's own organisation (platform id)
                    },
                )
            ).json()
            ids = []
            for i in range(desks):
                r = await c.post(
                    "/api/v1/facilities/resources",
                    json={
                        "site_id": site["id"],
                        "name": f"Desk {i}",
                        "kind": "hot_desk",
                        "policy": {"max_days_ahead": 365, "max_duration_minutes": 60},
                    },
                )
                ids.append(r.json()["id"])
            c.headers.update(user)
            day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)

            def slot(n: int) -> dict[str, Any]:
                desk, rest = ids[n % desks], n // desks
                start = day0 + timedelta(days=rest // 23, hours=rest % 23)
                return {
                    "resource_id": desk,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=30)).isoformat(),
                }

            warm = [slot(n) for n in range(attempts, attempts + 500)]
            await _fire(c, warm, concurrency)
            unc_bodies = [slot(n) for n in range(attempts)]
            random.shuffle(unc_bodies)
            unc_s, unc_status = await _fire(c, unc_bodies, concurrency)

            offset = attempts + 1000  # fresh slots, never booked above
            per_slot = attempts // slots
            con_bodies = [slot(offset + s) for s in range(slots) for _ in range(per_slot)]
            random.shuffle(con_bodies)
            con_s, con_status = await _fire(c, con_bodies, concurrency)
        wins = Counter(
            (b["resource_id"], b["start"]) for b, st in zip(con_bodies, con_status, strict=True) if st == 201
        )
        per_slot_wins = Counter(
            wins.get((slot(offset + s)["resource_id"], slot(offset + s)["start"]), 0) for s in range(slots)
        )
        return {
            "attempts": attempts,
            "concurrency": concurrency,
            "uncontended": {
                "seconds": round(unc_s, 3),
                "per_s": round(attempts / unc_s, 1),
                "statuses": dict(Counter(unc_status)),
            },
            "contended": {
                "slots": slots,
                "attempts_per_slot": per_slot,
                "seconds": round(con_s, 3),
                "per_s": round(len(con_bodies) / con_s, 1),
                "statuses": dict(Counter(con_status)),
            },
            "successes_per_slot": {str(k): v for k, v in sorted(per_slot_wins.items())},
            "double_bookings": sum(v for k, v in per_slot_wins.items() if k > 1),
            "ratio_contended_to_uncontended": round((len(con_bodies) / con_s) / (attempts / unc_s), 3),
        }
    except Exception:
        print(
            f"server {'exited ' + str(proc.poll()) if proc.poll() is not None else 'alive'}; log tail:",
            (data / "server.log").read_text(errors="replace")[-3000:],
            file=sys.stderr,
        )
        raise
    finally:
        proc.terminate()
        proc.wait(30)
        server_log.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--attempts", type=int, default=10_000)
    p.add_argument("--slots", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--desks", type=int, default=50)
    a = p.parse_args(argv)
    result = asyncio.run(run(a.attempts, a.slots, a.concurrency, a.desks))
    path = write_result("contention", result)
    print(
        f"contention: {result['contended']['attempts_per_slot']} attempts on each of {a.slots} slots; "
        f"successes per slot {result['successes_per_slot']} (double bookings: {result['double_bookings']})"
    )
    print(
        f"contention: contended {result['contended']['per_s']}/s vs uncontended "
        f"{result['uncontended']['per_s']}/s -> ratio {result['ratio_contended_to_uncontended']} "
        f"(target >= 0.5)  [{path}]"
    )
    return result


if __name__ == "__main__":
    main()
