"""Bookings under a compiled load generator: the platform's booking route against a bare endpoint.

wrk (``deploy/native/provision.sh wrk``) drives the server for a fixed time; a Lua script gives every
request its own body. Uncontended: each request books its own slot. Contended: the requests cycle over
S slots, so all but the first attempt on each are refused (409). The server's CPU time (user + system
of its process tree, read from /proc) is taken around each phase, so the figures are what the server
did, whatever the load generator cost. Baseline in the same run: ``bench.bare_booking``, a bare
Starlette endpoint with the same validation and the same guarded store write, under the same load.
Both servers are up together and every phase runs in rounds, each server in turn, so that the load of
the shared machine falls on both alike.
After each run the server's own store is read back: any two overlapping confirmed bookings of one
resource are a double booking.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sqlite3
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


LUA = r"""
local ids = {%(ids)s}
local day0, slots, offset, nthreads = %(day0)d, %(slots)d, %(offset)d, %(threads)d
local auth = "%(auth)s"
local made = 0
function setup(thread)
  thread:set("tid", made)
  made = made + 1
end
local k = 0
statuses = {}
function request()
  local n = tid + k * nthreads
  k = k + 1
  if slots > 0 then n = n %% slots end
  n = n + offset
  local desk, rest = ids[(n %% #ids) + 1], math.floor(n / #ids)
  local t = day0 + math.floor(rest / 23) * 86400 + (rest %% 23) * 3600
  local body = string.format('{"resource_id":"%%s","start":"%%s","end":"%%s"}', desk,
    os.date("!%%Y-%%m-%%dT%%H:%%M:%%S+00:00", t), os.date("!%%Y-%%m-%%dT%%H:%%M:%%S+00:00", t + 1800))
  local headers = {["Content-Type"] = "application/json"}
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("POST", "/api/v1/facilities/bookings", headers, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
threads = {}
function setup(thread)
  thread:set("tid", made)
  made = made + 1
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(total) do table.insert(parts, string.format('"%%d":%%d', code, n)) end
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"statuses":{%%s},' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d},"p50_us":%%d,"p99_us":%%d}\n',
    summary.requests, summary.duration, table.concat(parts, ","), e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _wrk() -> str:
    script = Path(__file__).resolve().parents[1] / "deploy" / "native" / "provision.sh"
    return subprocess.run(["bash", str(script), "wrk"], capture_output=True, text=True, check=True).stdout.strip()


def _tree(pid: int) -> list[int]:
    """The process and its descendants (a server may start helpers)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants, from /proc/<pid>/stat (fields 14 and 15)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def load(
    wrk: str,
    url: str,
    work: Path,
    *,
    ids: list[str],
    day0: datetime,
    slots: int,
    offset: int,
    auth: str,
    seconds: float,
    connections: int,
    threads: int,
    pid: int,
) -> dict[str, Any]:
    """One wrk run; the server's CPU seconds around it."""
    script = work / f"load-{slots}-{offset}.lua"
    script.write_text(
        LUA
        % {
            "ids": ",".join(f'"{i}"' for i in ids),
            "day0": int(day0.timestamp()),
            "slots": slots,
            "offset": offset,
            "threads": threads,
            "auth": auth,
        }
    )
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu0
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    wall = r["duration_us"] / 1e6
    ok = r["statuses"].get("201", 0)
    return {
        "seconds": round(wall, 3),
        "requests": r["requests"],
        "statuses": dict(sorted(r["statuses"].items())),
        "errors": r["errors"],
        "requests_per_s": round(r["requests"] / wall, 1),
        "bookings_per_s": round(ok / wall, 1),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_share": round(cpu / wall, 3),  # 1.0 = one core busy the whole time
        "server_cpu_ms_per_request": round(cpu * 1000 / r["requests"], 3) if r["requests"] else None,
        "latency_p50_ms": round(r["p50_us"] / 1000, 3),
        "latency_p99_ms": round(r["p99_us"] / 1000, 3),
    }


def double_bookings(store_files: list[Path]) -> tuple[int, int]:
    """Confirmed bookings, and pairs of them overlapping on one resource, read from the servers' stores."""
    confirmed = overlaps = 0
    for f in store_files:
        db = sqlite3.connect(f)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name='c_schedules'").fetchone():
                continue
            for (text,) in db.execute("SELECT doc FROM c_schedules"):
                bs = sorted(
                    (b["start"], b["end"]) for b in json.loads(text).get("bookings", []) if b["status"] == "confirmed"
                )
                confirmed += len(bs)
                overlaps += sum(1 for a, b in itertools.pairwise(bs) if b[0] < a[1])
        finally:
            db.close()
    return confirmed, overlaps


async def _ready(url: str) -> None:
    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            try:
                r = await probe.post(f"{url}/api/v1/facilities/bookings", content=b"{}", timeout=1)
                if r.status_code in (401, 403, 422):
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


async def _platform_setup(base: str, env: dict[str, str], desks: int) -> tuple[list[str], str]:
    mgr = {
        "Authorization": "Bearer "
        + _token(env, "--sub", "bench-mgr", "--role", "facility_manager", "--region", "IE05", "--org", "Bench")
    }
    user = "Bearer " + _token(env, "--sub", "bench-user", "--role", "student", "--region", "IE05")
    async with httpx.AsyncClient(base_url=base, headers=mgr, timeout=60) as c:
        hours = {d: [{"open": "00:00", "close": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
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
    return ids, user


def _merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one phase as one: totals over the summed time, latencies the worst run's."""
    wall = sum(r["seconds"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    cpu = sum(r["server_cpu_s"] for r in runs)
    statuses: Counter[str] = Counter()
    for r in runs:
        statuses.update(r["statuses"])
    return {
        "runs": len(runs),
        "seconds": round(wall, 3),
        "requests": requests,
        "statuses": dict(sorted(statuses.items())),
        "requests_per_s": round(requests / wall, 1),
        "bookings_per_s": round(statuses.get("201", 0) / wall, 1),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_share": round(cpu / wall, 3),
        "server_cpu_ms_per_request": round(cpu * 1000 / requests, 3) if requests else None,
        "latency_p50_ms_worst": max(r["latency_p50_ms"] for r in runs),
        "latency_p99_ms_worst": max(r["latency_p99_ms"] for r in runs),
    }


def _interleaved(wrk: str, work: Path, servers: dict[str, dict[str, Any]], a: argparse.Namespace) -> dict[str, Any]:
    """Every phase in rounds, each server in turn within a round, so that the load of a shared machine
    (which moves by the minute) falls on the platform and the baseline alike."""
    day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    common = {"day0": day0, "connections": a.connections, "threads": a.threads}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {"uncontended": [], "contended": []} for n in servers}
    for srv in servers.values():  # warm-up, untimed (slots from 0)
        load(
            wrk,
            srv["url"],
            work,
            ids=srv["ids"],
            auth=srv["auth"],
            pid=srv["pid"],
            slots=0,
            offset=0,
            seconds=a.warmup,
            **common,
        )
    each = max(1.0, a.seconds / a.rounds)
    for r in range(a.rounds):
        for name, srv in servers.items():
            at = {"ids": srv["ids"], "auth": srv["auth"], "pid": srv["pid"], "seconds": each, **common}
            # offsets keep the slots apart: each round's uncontended slots (at most 1,000/s) and the
            # contended phase's S slots (the same S slots in every round: all but the first attempt refused)
            runs[name]["uncontended"].append(load(wrk, srv["url"], work, slots=0, offset=200_000 + 20_000 * r, **at))
            runs[name]["contended"].append(load(wrk, srv["url"], work, slots=a.slots, offset=100_000, **at))
    return {n: {phase: _merged(rs) for phase, rs in by.items()} for n, by in runs.items()}


def run(a: argparse.Namespace) -> dict[str, Any]:
    wrk = _wrk()
    data = Path(tempfile.mkdtemp(prefix="bench-contention-"))
    out: dict[str, Any] = {
        "load_generator": "wrk",
        "connections": a.connections,
        "seconds_per_phase": a.seconds,
        "rounds": a.rounds,
    }
    # The platform: `clustergrowth run` (gateway and every service in one process, embedded store).
    p_port, b_port = _free_port(), _free_port()
    env = {**os.environ, "CG_DATA_DIR": str(data / "platform"), "CG_LOG_LEVEL": "WARNING", "CG_SEED_DEMO": "false"}
    env["CG_GATEWAY_RATE_LIMITS"] = "false"  # thousands of requests from one address: bookings, not quotas
    # The baseline: the bare endpoint, same validation and store write, under the same load.
    bare_dir = data / "bare"
    bare_dir.mkdir()
    bare_ids = [f"desk-{i}" for i in range(a.desks)]
    bare_cmd = [sys.executable, "-m", "bench.bare_booking", "--port", str(b_port), "--data", str(bare_dir)]
    with open(data / "platform.log", "wb") as p_log, open(data / "bare.log", "wb") as b_log:
        platform = subprocess.Popen([CLI, "run", "--port", str(p_port)], env=env, stderr=p_log, stdout=p_log)
        bare = subprocess.Popen([*bare_cmd, "--resources", ",".join(bare_ids)], stderr=b_log, stdout=b_log)
        try:
            p_url, b_url = f"http://127.0.0.1:{p_port}", f"http://127.0.0.1:{b_port}"
            asyncio.run(_ready(p_url))
            asyncio.run(_ready(b_url))
            ids, user = asyncio.run(_platform_setup(p_url, env, a.desks))
            if a.profile:
                out["profile"] = _profiled(wrk, p_url, data, ids, user, platform.pid, a)
            servers = {
                "platform": {"url": p_url, "ids": ids, "auth": user, "pid": platform.pid},
                "bare": {"url": b_url, "ids": bare_ids, "auth": "", "pid": bare.pid},
            }
            out.update(_interleaved(wrk, data, servers, a))
        except Exception:
            for name in ("platform", "bare"):
                tail = (data / f"{name}.log").read_text(errors="replace")[-3000:]
                print(f"{name} log tail:", tail, file=sys.stderr)
            raise
        finally:
            for proc in (platform, bare):
                proc.terminate()
                proc.wait(30)

    p, b = out["platform"], out["bare"]
    confirmed, overlaps = double_bookings([*sorted((data / "platform").rglob("*.sqlite")), bare_dir / "bare.sqlite"])
    out["confirmed_bookings"] = confirmed
    out["double_bookings"] = overlaps
    out["ratio_platform_to_bare"] = round(p["uncontended"]["bookings_per_s"] / b["uncontended"]["bookings_per_s"], 3)
    out["ratio_cpu_per_request_bare_to_platform"] = round(
        b["uncontended"]["server_cpu_ms_per_request"] / p["uncontended"]["server_cpu_ms_per_request"], 3
    )
    out["ratio_contended_to_uncontended"] = round(
        p["contended"]["requests_per_s"] / p["uncontended"]["requests_per_s"], 3
    )
    return out


def _profiled(
    wrk: str, url: str, work: Path, ids: list[str], auth: str, pid: int, a: argparse.Namespace
) -> dict[str, Any]:
    """py-spy samples the server while wrk books (uncontended); the top frames (self and inclusive) are kept."""
    spy = str(Path(sys.executable).parent / "py-spy")
    raw = work / "profile.txt"
    day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    rec = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--duration",
            str(int(a.seconds)),
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    load(
        wrk,
        url,
        work,
        ids=ids,
        day0=day0,
        slots=0,
        offset=300_000,
        auth=auth,
        seconds=a.seconds,
        connections=a.connections,
        threads=a.threads,
        pid=pid,
    )
    _, err = rec.communicate(timeout=120)
    if rec.returncode != 0 or not raw.exists():
        return {"error": err.decode(errors="replace")[-500:]}
    return top_frames(raw)


def top_frames(raw: Path, n: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's raw (collapsed stacks) output."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        k = int(count)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")" for f in stack.split(";")
        ]
        total += k
        own[frames[-1]] += k
        for f in set(frames):
            incl[f] += k
    return {
        "samples": total,
        "self": [{"frame": f, "share": round(c / total, 3)} for f, c in own.most_common(n)],
        "inclusive": [{"frame": f, "share": round(c / total, 3)} for f, c in incl.most_common(n)],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=12.0, help="per phase and server, split over the rounds")
    p.add_argument("--rounds", type=int, default=3, help="each server in turn, this many times a phase")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--slots", type=int, default=100)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="wrk threads (the server shares the machine)")
    p.add_argument("--desks", type=int, default=50)
    p.add_argument("--profile", action="store_true", help="also sample the platform with py-spy (a phase more)")
    a = p.parse_args(argv)
    result = run(a)
    path = write_result("contention", result)
    pl, bare = result["platform"], result["bare"]
    print(
        f"contention (wrk, {a.connections} connections, {a.seconds:g} s a phase): platform "
        f"{pl['uncontended']['bookings_per_s']} bookings/s ({pl['uncontended']['server_cpu_ms_per_request']} ms CPU "
        f"each, {pl['uncontended']['server_cpu_share']} cores) vs bare Starlette endpoint "
        f"{bare['uncontended']['bookings_per_s']}/s ({bare['uncontended']['server_cpu_ms_per_request']} ms) "
        f"-> x{result['ratio_platform_to_bare']} (target >= 0.6)"
    )
    print(
        f"contention: {a.slots} slots, contended {pl['contended']['requests_per_s']} attempts/s vs uncontended "
        f"{pl['uncontended']['requests_per_s']}/s -> x{result['ratio_contended_to_uncontended']} (target >= 0.5); "
        f"double bookings {result['double_bookings']} of {result['confirmed_bookings']} confirmed  [{path}]"
    )
    return result


if __name__ == "__main__":
    main()
