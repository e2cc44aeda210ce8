"""Bookings under a compiled load generator: the platform's booking route against a bare endpoint.

wrk (``deploy/native/provision.sh wrk``) drives the server for a fixed time; a Lua script gives every
request its own body. Uncontended: each request books its own slot. Contended: the requests cycle over
S slots, so all but the first attempt on each are refused (409). Refused: every request names a resource
that does not exist (404 after the body's validation and one store read; on the platform also the token),
which measures what a request costs each server before any booking work. The server's CPU time (user + system
of its process tree, read from /proc) is taken around each phase, so the figures are what the server
did, whatever the load generator cost. Baseline in the same run: ``bench.bare_booking``, a bare
Starlette endpoint with the same validation and the same guarded store write (the platform's documents
and indexes), under the same load; the same endpoint as a FastAPI route (``--framework fastapi``), the
floor of any FastAPI service doing this write: what the platform costs above the bare endpoint splits
into FastAPI's own share and the platform's; and the bare endpoint writing less (``--write minimal``: a
6-field booking record), what the platform's data model costs the store write. Each bare endpoint has
the platform's outbox relay beside it (``--relay``), as the split API has its worker.
Two deployments of the platform are measured, both on the embedded store: all-in-one (``clustergrowth
run``: gateway, services, outbox relays and consumers in one process) and split as the README documents
for scale-out: an API process with every ``CG_<SERVICE>_RUN_RELAY`` and ``CG_<SERVICE>_RUN_CONSUMERS``
off, and beside it a worker process on the same data folder (SQLite in WAL mode, a busy timeout: two
processes on one file are supported) running the relays and consumers, at CPU niceness 10
(``CG_CPU_NICENESS``, ``--worker-niceness``: on one host the requests get the cores first, the relays
what is left). The API's CPU is its own; the worker's is reported beside it, with the outbox backlog
and the consumers' lag at the end of each phase (did it keep up?). All servers are up together and
every phase runs in rounds, each server in turn, so that the load of the shared machine falls on all
alike: within a round each phase runs on every server back to back, so that the runs compared are
seconds apart (this machine's speed moves by a fifth from one few-second window to the next), and a run
after one on a server with relays and consumers waits until they have caught up. The figures judged are
the totals over the rounds; each round's ratio of the split API to the bare endpoint is reported beside
them (min, median, max): the spread a single round would show.
After each run the server's own store is read back: any two overlapping confirmed bookings of one
resource are a double booking. ``--against REF`` adds the split API of another commit (its tracked
files) to the same rounds: a change's effect measured under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.bare_booking import relay_command
from bench.common import provision, write_result

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


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of ``pid`` and its descendants, from /proc/<pid>/stat (fields 14 and 15)."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / ticks, system / ticks


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants."""
    return sum(cpu_times(pid))


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
    beside: dict[str, int] | None = None,
    data: Path | None = None,
    conflicts: bool = False,
) -> dict[str, Any]:
    """One wrk run; the server's CPU seconds around it (and those of the processes ``beside`` it, with
    the backlog left in ``data``'s stores and event log when the load stopped; with ``conflicts``, how
    many schedule writes lost their race, from the server's ``/metrics``)."""
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
    beside = beside or {}
    lost0 = write_conflicts(url) if conflicts else 0.0
    user0, system0 = cpu_times(pid)
    others0 = {n: cpu_seconds(p) for n, p in beside.items()}
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
    user1, system1 = cpu_times(pid)
    cpu = user1 - user0 + system1 - system0
    others = {n: cpu_seconds(p) - others0[n] for n, p in beside.items()}
    others |= {"server_user": user1 - user0, "server_system": system1 - system0}  # where its CPU went: kernel or not
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    wall = r["duration_us"] / 1e6
    ok = r["statuses"].get("201", 0)
    extra: dict[str, Any] = {}
    for n, c in others.items():
        extra[f"{n}_cpu_s"] = round(c, 3)
        extra[f"{n}_cpu_ms_per_request"] = round(c * 1000 / r["requests"], 3) if r["requests"] else None
    if data is not None:
        extra["backlog_at_end"] = backlog(data)
    if conflicts:
        extra["schedule_write_conflicts"] = round(write_conflicts(url) - lost0)
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
        **extra,
    }


def write_conflicts(url: str) -> float:
    """The server's count of schedule writes that another writer got in before (``/metrics``)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "aggregate_write_conflicts_total" and s.labels.get("collection") == "schedules"
    )


def backlog(data: Path) -> dict[str, int]:
    """What the relays and consumers still had to do: events waiting in the stores' outboxes, and events
    in the log after each consumer group's committed offset."""
    outbox = lag = 0
    for f in sorted(data.rglob("*.sqlite")):
        db = sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=30)
        try:
            names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in (n for n in names if n.startswith("c_")):
                (k,) = db.execute(
                    f'SELECT COALESCE(SUM(json_array_length(doc, "$.outbox")), 0) FROM "{t}"'
                    " WHERE json_extract(doc, '$.outbox_pending')"
                ).fetchone()
                outbox += int(k)
            if "offsets" in names and "log" in names:
                (k,) = db.execute(
                    "SELECT COUNT(*) FROM offsets o JOIN log l ON l.topic = o.topic AND l.seq > o.seq"
                ).fetchone()
                lag += int(k)
        finally:
            db.close()
    return {"outbox_events": outbox, "consumer_lag_events": lag}


def drained(data: Path, within_s: float = 60.0) -> dict[str, Any]:
    """Wait (at most ``within_s``) for the backlog to empty; how long it took and what was left."""
    t0 = time.monotonic()
    while True:
        left = backlog(data)
        if not any(left.values()) or time.monotonic() - t0 > within_s:
            return {"after_s": round(time.monotonic() - t0, 1), **left}
        time.sleep(0.5)


def idle_share(pid: int, seconds: float = 3.0) -> float:
    """The CPU a process uses with nothing to do (a worker's relays and consumers polling), in cores."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return round((cpu_seconds(pid) - c0) / (time.monotonic() - t0), 3)


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


async def _ready(
    url: str,
    proc: subprocess.Popen[bytes] | None = None,
    within_s: float = 60,
    probe_s: float = 1,
    pause_s: float = 0.2,
) -> None:
    """Wait (at most ``within_s``) for a server to answer the booking route (401, 403 or 422 to an empty body)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with httpx.AsyncClient() as probe:
        while loop.time() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{url}: the server exited ({proc.returncode}) before answering")
            try:
                r = await probe.post(f"{url}/api/v1/facilities/bookings", content=b"{}", timeout=probe_s)
                if r.status_code in (401, 403, 422):
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(pause_s)
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
    extra: dict[str, Any] = {}
    for key in (k for k in runs[0] if k.endswith("_cpu_s") and k != "server_cpu_s"):
        c = sum(r[key] for r in runs)
        extra[key] = round(c, 3)
        extra[key.removesuffix("_s") + "_ms_per_request"] = round(c * 1000 / requests, 3) if requests else None
        extra[key.removesuffix("_cpu_s") + "_cpu_share"] = round(c / wall, 3)
    if "schedule_write_conflicts" in runs[0]:
        lost = sum(r["schedule_write_conflicts"] for r in runs)
        bookings = sum(r["statuses"].get("201", 0) for r in runs)
        extra["schedule_write_conflicts"] = lost
        extra["schedule_write_conflicts_per_booking"] = round(lost / bookings, 4) if bookings else None
    if "caught_up_after_s" in runs[0]:
        extra["caught_up_after_s_worst"] = max(r["caught_up_after_s"] for r in runs)
    if "backlog_at_end" in runs[0]:
        extra["backlog_at_end_worst"] = {
            k: max(r["backlog_at_end"][k] for r in runs) for k in runs[0]["backlog_at_end"]
        }
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
        **extra,
    }


def _interleaved(wrk: str, work: Path, servers: dict[str, dict[str, Any]], a: argparse.Namespace) -> dict[str, Any]:
    """Every phase in rounds; within a round each phase runs on every server in turn, back to back, so that
    the runs compared are seconds apart: this machine's speed moves by a fifth from one few-second window
    to the next, the same server measured alike. Each round starts with the next server (none always runs
    after the same one). After a run on a server with relays and consumers (a worker beside it, or its
    own: ``data`` names its stores), the next run waits until they have caught up, so that no server's
    run carries the last one's backlog."""
    day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    common = {"day0": day0, "connections": a.connections, "threads": a.threads}
    phases = ("uncontended", "contended", "refused")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {p: [] for p in phases} for n in servers}
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
        if srv.get("data") is not None:
            drained(srv["data"])
    each = max(1.0, a.seconds / a.rounds)
    names = list(servers)
    for r in range(a.rounds):
        for phase in phases:
            for name in names[r % len(names) :] + names[: r % len(names)]:  # each round starts with the next server
                srv = servers[name]
                at = {"ids": srv["ids"], "auth": srv["auth"], "pid": srv["pid"], "seconds": each, **common}
                at |= {"beside": srv.get("beside"), "data": srv.get("data"), "conflicts": srv.get("conflicts", False)}
                if phase == "uncontended":  # each round's own slots: every attempt books
                    runs[name][phase].append(load(wrk, srv["url"], work, slots=0, offset=_own_slots(r), **at))
                elif phase == "contended":  # the same S slots in every round: all but the first attempt refused
                    runs[name][phase].append(load(wrk, srv["url"], work, slots=a.slots, offset=100_000, **at))
                else:  # every request names a resource that does not exist (404 after the token, the body's
                    # validation and one store read): what a request costs the server before any booking work
                    refused = {**at, "ids": [NO_SUCH_RESOURCE]}
                    runs[name][phase].append(load(wrk, srv["url"], work, slots=0, offset=0, **refused))
                for proc in srv.get("watch", ()):  # a relay that died would leave the baseline's outboxes full
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name}: a process beside it exited ({proc.returncode})")
                if srv.get("data") is not None:
                    runs[name][phase][-1]["caught_up_after_s"] = drained(srv["data"])["after_s"]
    out: dict[str, Any] = {n: {phase: _merged(rs) for phase, rs in by.items()} for n, by in runs.items()}
    out["rounds_uncontended_bookings_per_s"] = {
        n: [x["bookings_per_s"] for x in by["uncontended"]] for n, by in runs.items()
    }
    return out


NO_SUCH_RESOURCE = "no-such-resource"


def _own_slots(r: int) -> int:
    """The first slot of round ``r``'s uncontended runs (20,000 a round: 5,000 bookings/s for 4 s); past the
    last round, the profile's. 50 desks, 23 slots a day, two days out: 9 rounds and a profile of 20,000
    end at slot 400,000, 350 days ahead, within the desks' 365 (``--rounds`` is held to 9)."""
    return 200_000 + 20_000 * r


def _checkout(ref: str, into: Path) -> Path:
    """The tracked files of commit ``ref`` in ``into`` (``git archive``: the repository is not touched)."""
    into.mkdir()
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _relaying(proc: subprocess.Popen[bytes], log: Path, within_s: float = 120) -> None:
    """Wait (at most ``within_s``) for a bare endpoint's relay to open its event log; raise if it exits."""
    deadline = time.monotonic() + within_s
    while not log.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the relay beside {log.parent.name} never started ({proc.poll()})")
        time.sleep(0.2)


def _switches(on: bool) -> dict[str, str]:
    """Every service's outbox relay and consumers on or off (``CG_<SERVICE>_RUN_RELAY`` / ``_RUN_CONSUMERS``)."""
    from instance.registry import specs

    flag = "true" if on else "false"
    return {f"CG_{s.name.upper()}_{what}": flag for s in specs() for what in ("RUN_RELAY", "RUN_CONSUMERS")}


def run(a: argparse.Namespace) -> dict[str, Any]:
    wrk = provision("wrk")
    data = Path(tempfile.mkdtemp(prefix="bench-contention-"))
    out: dict[str, Any] = {
        "load_generator": "wrk",
        "connections": a.connections,
        "seconds_per_phase": a.seconds,
        "rounds": a.rounds,
    }
    base = {**os.environ, "CG_LOG_LEVEL": "WARNING", "CG_SEED_DEMO": "false"}
    base["CG_GATEWAY_RATE_LIMITS"] = "false"  # thousands of requests from one address: bookings, not quotas
    base.pop("CG_CPU_NICENESS", None)  # the worker's alone (below), whatever the shell that runs this sets
    # All-in-one: `clustergrowth run` (gateway, every service, relays and consumers in one process).
    env = {**base, "CG_DATA_DIR": str(data / "platform")}
    # Split (the scale-out deployment): an API process with relays and consumers off, and a worker process
    # on the same data folder running them (its HTTP port is never loaded), at a lower CPU priority
    # (CG_CPU_NICENESS, as the README advises for a worker sharing the API's host).
    split_dir = data / "split"
    api_env = {**base, "CG_DATA_DIR": str(split_dir), **_switches(False)}
    niceness = str(a.worker_niceness)
    worker_env = {**base, "CG_DATA_DIR": str(split_dir), **_switches(True), "CG_CPU_NICENESS": niceness}
    out["worker_niceness"] = a.worker_niceness
    # The baseline: the bare endpoint, same validation and store write, under the same load.
    bare_dir, fastapi_dir, minimal_dir = data / "bare", data / "bare-fastapi", data / "bare-minimal"
    for d in (bare_dir, fastapi_dir, minimal_dir):
        d.mkdir()
    bare_ids = [f"res-{i:012d}" for i in range(a.desks)]  # as long as the platform's resource ids
    names = ("platform", "api", "worker", "bare", "bare_fastapi", "bare_minimal", "ref_api", "ref_worker")
    ports = {n: _free_port() for n in names}
    url = {n: f"http://127.0.0.1:{port}" for n, port in ports.items()}
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, cmd: list[str], e: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        with open(data / f"{name}.log", "wb") as log:  # the child keeps its own copy of the descriptor
            procs[name] = subprocess.Popen(cmd, env=e, stderr=log, stdout=log, cwd=cwd)

    try:
        start("platform", [CLI, "run", "--port", str(ports["platform"])], env)
        start("worker", [CLI, "run", "--port", str(ports["worker"])], worker_env)
        bare = [sys.executable, "-m", "bench.bare_booking", "--port", str(ports["bare"]), "--data", str(bare_dir)]
        start("bare", [*bare, "--resources", ",".join(bare_ids)])
        fastapi = [sys.executable, "-m", "bench.bare_booking", "--port", str(ports["bare_fastapi"])]
        fastapi += ["--data", str(fastapi_dir), "--framework", "fastapi"]
        start("bare_fastapi", [*fastapi, "--resources", ",".join(bare_ids)])
        minimal = [sys.executable, "-m", "bench.bare_booking", "--port", str(ports["bare_minimal"])]
        minimal += ["--data", str(minimal_dir), "--write", "minimal"]
        start("bare_minimal", [*minimal, "--resources", ",".join(bare_ids)])
        asyncio.run(
            _ready(url["worker"], procs["worker"])
        )  # the worker has migrated the shared stores before the API starts
        start("api", [CLI, "run", "--port", str(ports["api"])], api_env)
        if a.against:
            # the same split deployment, from the tracked files of another commit (the API process is the one
            # compared; its worker is that commit's too)
            commit = subprocess.run(
                ["git", "rev-parse", "--verify", f"{a.against}^{{commit}}"], capture_output=True, text=True, check=True
            ).stdout.strip()
            out["against"] = {"ref": a.against, "commit": commit}
            tree = _checkout(commit, data / "ref")
            ref_cli = [sys.executable, "-c", "from instance.cli import main; main()", "run", "--port"]
            ref_dir = data / "split-ref"
            ref_base = {**base, "PYTHONPATH": str(tree), "CG_DATA_DIR": str(ref_dir)}
            # niced by the command (a commit before CG_CPU_NICENESS would ignore the setting)
            ref_worker = ["nice", "-n", niceness, *ref_cli, str(ports["ref_worker"])]
            start("ref_worker", ref_worker, {**ref_base, **_switches(True)}, tree)
            asyncio.run(_ready(url["ref_worker"], procs["ref_worker"]))
            start("ref_api", [*ref_cli, str(ports["ref_api"])], {**ref_base, **_switches(False)}, tree)
        for n in ("platform", "api", "bare", "bare_fastapi", "bare_minimal", *(("ref_api",) if a.against else ())):
            asyncio.run(_ready(url[n], procs[n]))
        bare_dirs = {"bare": bare_dir, "bare_fastapi": fastapi_dir, "bare_minimal": minimal_dir}
        for n, d in bare_dirs.items():  # each bare endpoint's outbox relay, at the worker's niceness, uncounted
            start(f"{n}_relay", relay_command(d, niceness))
        for n, d in bare_dirs.items():  # each relay has opened its event log, and runs
            _relaying(procs[f"{n}_relay"], d / "events.sqlite")
        ids, user = asyncio.run(_platform_setup(url["platform"], env, a.desks))
        split_ids, split_user = asyncio.run(_platform_setup(url["api"], api_env, a.desks))
        if a.profile:
            out["profile"] = _profiled(wrk, url["platform"], data, ids, user, procs["platform"].pid, a)
            out["profile_split_api"] = _profiled(wrk, url["api"], data, split_ids, split_user, procs["api"].pid, a)
        servers = {
            "platform": {
                "url": url["platform"],
                "ids": ids,
                "auth": user,
                "pid": procs["platform"].pid,
                "data": data / "platform",  # its own relays and consumers: the next run waits for them
                "conflicts": True,
            },
            "split": {
                "url": url["api"],
                "ids": split_ids,
                "auth": split_user,
                "pid": procs["api"].pid,
                "beside": {"worker": procs["worker"].pid},
                "data": split_dir,
                "conflicts": True,
            },
            **{
                n: {
                    "url": url[n],
                    "ids": bare_ids,
                    "auth": "",
                    "pid": procs[n].pid,
                    "beside": {"relay": procs[f"{n}_relay"].pid},
                    "watch": [procs[f"{n}_relay"]],
                    "data": d,  # its relay: the next run waits for it
                }
                for n, d in bare_dirs.items()
            },
        }
        if a.against:
            ref_env = {**api_env, "CG_DATA_DIR": str(data / "split-ref")}
            ref_ids, ref_user = asyncio.run(_platform_setup(url["ref_api"], ref_env, a.desks))
            servers["split_at_ref"] = {
                "url": url["ref_api"],
                "ids": ref_ids,
                "auth": ref_user,
                "pid": procs["ref_api"].pid,
                "beside": {"worker": procs["ref_worker"].pid},
                "data": data / "split-ref",
            }
        out.update(_interleaved(wrk, data, servers, a))
        out["split"]["backlog_drained"] = drained(split_dir)
        out["split"]["worker_idle_cpu_share"] = idle_share(procs["worker"].pid)
    except Exception:
        for name in procs:
            tail = (data / f"{name}.log").read_text(errors="replace")[-3000:]
            print(f"{name} log tail:", tail, file=sys.stderr)
        raise
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(30)

    p, s, b = out["platform"], out["split"], out["bare"]
    stores = [*sorted((data / "platform").rglob("*.sqlite")), *sorted(split_dir.rglob("*.sqlite"))]
    stores += sorted((data / "split-ref").rglob("*.sqlite"))  # with --against
    stores += [d / "bare.sqlite" for d in (bare_dir, fastapi_dir, minimal_dir)]
    confirmed, overlaps = double_bookings(stores)
    out["confirmed_bookings"] = confirmed
    out["double_bookings"] = overlaps
    pu, su, bu = p["uncontended"], s["uncontended"], b["uncontended"]
    out["ratio_platform_to_bare"] = round(pu["bookings_per_s"] / bu["bookings_per_s"], 3)
    out["ratio_cpu_per_request_bare_to_platform"] = round(
        bu["server_cpu_ms_per_request"] / pu["server_cpu_ms_per_request"], 3
    )
    out["ratio_split_api_to_bare"] = round(su["bookings_per_s"] / bu["bookings_per_s"], 3)
    by_round = out["rounds_uncontended_bookings_per_s"]
    paired = sorted(round(x / y, 3) for x, y in zip(by_round["split"], by_round["bare"], strict=True) if y)
    out["ratio_split_api_to_bare_rounds"] = {  # the spread: each round's two runs are seconds apart
        "min": paired[0],
        "median": round(statistics.median(paired), 3),
        "max": paired[-1],
    }
    out["ratio_cpu_per_request_bare_to_split_api"] = round(
        bu["server_cpu_ms_per_request"] / su["server_cpu_ms_per_request"], 3
    )
    out["ratio_cpu_per_request_bare_to_split_api_plus_worker"] = round(  # each with what empties its outboxes
        (bu["server_cpu_ms_per_request"] + bu["relay_cpu_ms_per_request"])
        / (su["server_cpu_ms_per_request"] + su["worker_cpu_ms_per_request"]),
        3,
    )
    out["ratio_cpu_per_request_bare_plus_relay_to_platform"] = round(  # the all-in-one relays in its own process
        (bu["server_cpu_ms_per_request"] + bu["relay_cpu_ms_per_request"]) / pu["server_cpu_ms_per_request"], 3
    )
    if a.against:
        ru = out["split_at_ref"]["uncontended"]
        out["against"] |= {
            "ratio_split_api_at_ref_to_bare": round(ru["bookings_per_s"] / bu["bookings_per_s"], 3),
            "ratio_cpu_per_request_ref_to_split_api": round(
                ru["server_cpu_ms_per_request"] / su["server_cpu_ms_per_request"], 3
            ),
        }
    fu = out["bare_fastapi"]["uncontended"]
    out["floor_fastapi"] = {
        "what": "the bare endpoint as a FastAPI route (FastAPI reads and validates the body): FastAPI's own share",
        "ratio_bare_fastapi_to_bare": round(fu["bookings_per_s"] / bu["bookings_per_s"], 3),
        "ratio_cpu_per_request_bare_to_bare_fastapi": round(
            bu["server_cpu_ms_per_request"] / fu["server_cpu_ms_per_request"], 3
        ),
        "ratio_split_api_to_bare_fastapi": round(su["bookings_per_s"] / fu["bookings_per_s"], 3),
    }
    mu = out["bare_minimal"]["uncontended"]
    out["lighter_write"] = {
        "what": "the bare endpoint writing less than the platform (--write minimal: a 6-field booking record, "
        "its event's data that record, no indexes, a resource of two fields): what the platform's data model "
        "costs the store write",
        "ratio_bare_to_bare_minimal": round(bu["bookings_per_s"] / mu["bookings_per_s"], 3),
        "ratio_split_api_to_bare_minimal": round(su["bookings_per_s"] / mu["bookings_per_s"], 3),
    }
    sr, br = s["refused"], b["refused"]
    out["refused"] = {
        "what": "POST /bookings naming a resource that does not exist: 404 after the body's validation and one "
        "store read (on the platform also the token and its middleware; the bare endpoint has neither)",
        "ratio_cpu_per_request_bare_to_split_api": round(
            br["server_cpu_ms_per_request"] / sr["server_cpu_ms_per_request"], 3
        ),
        "split_api_share_of_a_booking": round(sr["server_cpu_ms_per_request"] / su["server_cpu_ms_per_request"], 3),
        "bare_share_of_a_booking": round(br["server_cpu_ms_per_request"] / bu["server_cpu_ms_per_request"], 3),
    }
    out["ratio_contended_to_uncontended"] = round(p["contended"]["requests_per_s"] / pu["requests_per_s"], 3)
    out["ratio_contended_to_uncontended_split"] = round(s["contended"]["requests_per_s"] / su["requests_per_s"], 3)
    out["target"] = TARGET
    return out


TARGET = (
    "issue 17: booking POST throughput >= 0.6x the bare endpoint's with the same store write (bench.bare_booking "
    "--write same: the platform's documents and indexes), server-side bookings/s with the "
    "server's CPU time. Judged on ratio_split_api_to_bare: the server answering the bookings is the API "
    "process of the documented scale-out deployment, whose relays and consumers run in a worker beside it "
    "(its CPU and backlog reported under split, ratio_cpu_per_request_bare_to_split_api_plus_worker counts "
    "both, and the bare endpoint's outbox relay on the other side); ratio_platform_to_bare is the all-in-one "
    "process doing that work too."
)


def _profiled(
    wrk: str, url: str, work: Path, ids: list[str], auth: str, pid: int, a: argparse.Namespace
) -> dict[str, Any]:
    """py-spy samples the server while wrk books (uncontended); the top frames (self and inclusive) are kept."""
    spy = str(Path(sys.executable).parent / "py-spy")
    raw = work / f"profile-{pid}.txt"
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
        offset=_own_slots(a.rounds),
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
    p.add_argument("--seconds", type=float, default=24.0, help="per phase and server, split over the rounds")
    p.add_argument("--rounds", type=int, default=8, help="each server in turn, this many times a phase")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--slots", type=int, default=100)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="wrk threads (the server shares the machine)")
    p.add_argument("--desks", type=int, default=50)
    p.add_argument(
        "--worker-niceness",
        type=int,
        default=10,
        choices=range(20),
        metavar="0-19",
        help="the split deployment's worker runs at this CPU niceness (CG_CPU_NICENESS; 0: the API's own)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also sample the all-in-one platform and the split API with py-spy (two phases more)",
    )
    p.add_argument(
        "--against",
        metavar="REF",
        help="also run the split API of this commit (e.g. HEAD~1) in the same rounds: a change's effect, same load",
    )
    a = p.parse_args(argv)
    if a.rounds > 9:  # each round's slots, then the profile's, within the desks' 365 days ahead (_own_slots)
        p.error("--rounds: at most 9")
    result = run(a)
    path = write_result("contention", result)
    pl, sp, bare = result["platform"], result["split"], result["bare"]
    pu, su, bu = pl["uncontended"], sp["uncontended"], bare["uncontended"]
    print(
        f"contention (wrk, {a.connections} connections, {a.seconds:g} s a phase): bare Starlette endpoint "
        f"{bu['bookings_per_s']} bookings/s ({bu['server_cpu_ms_per_request']} ms CPU each); all-in-one platform "
        f"{pu['bookings_per_s']}/s ({pu['server_cpu_ms_per_request']} ms) -> x{result['ratio_platform_to_bare']}; "
        f"split API {su['bookings_per_s']}/s ({su['server_cpu_ms_per_request']} ms, worker beside it "
        f"{su['worker_cpu_ms_per_request']} ms) -> x{result['ratio_split_api_to_bare']} (target >= 0.6, judged on "
        f"the split API; round by round {result['ratio_split_api_to_bare_rounds']}); "
        f"worker backlog at phase ends (worst) {su['backlog_at_end_worst']}, drained "
        f"{sp['backlog_drained']}; schedule writes that lost their race, per booking: split API "
        f"{su['schedule_write_conflicts_per_booking']}, all-in-one {pu['schedule_write_conflicts_per_booking']}"
    )
    print(
        f"contention: {a.slots} slots, contended {pl['contended']['requests_per_s']} "
        f"attempts/s vs uncontended {pu['requests_per_s']}/s -> x{result['ratio_contended_to_uncontended']} "
        f"(split x{result['ratio_contended_to_uncontended_split']}; target >= 0.5); "
        f"double bookings {result['double_bookings']} of {result['confirmed_bookings']} confirmed  [{path}]"
    )
    print(
        "contention: CPU per booking in user space + in the kernel: bare "
        f"{bu['server_user_cpu_ms_per_request']} + {bu['server_system_cpu_ms_per_request']} ms, split API "
        f"{su['server_user_cpu_ms_per_request']} + {su['server_system_cpu_ms_per_request']} ms"
    )
    ff, fu = result["floor_fastapi"], result["bare_fastapi"]["uncontended"]
    print(
        f"contention: the bare endpoint as a FastAPI route {fu['bookings_per_s']}/s "
        f"({fu['server_cpu_ms_per_request']} ms) -> x{ff['ratio_bare_fastapi_to_bare']} the bare Starlette one's; "
        f"the split API is x{ff['ratio_split_api_to_bare_fastapi']} the FastAPI route's"
    )
    lw, mu = result["lighter_write"], result["bare_minimal"]["uncontended"]
    print(
        f"contention: the bare endpoint writing less than the platform (--write minimal) {mu['bookings_per_s']}/s "
        f"({mu['server_cpu_ms_per_request']} ms): the same write is x{lw['ratio_bare_to_bare_minimal']} of it; "
        f"the split API x{lw['ratio_split_api_to_bare_minimal']}"
    )
    rf, sr, br = result["refused"], sp["refused"], bare["refused"]
    print(
        f"contention: refused (404, no booking work): bare {br['server_cpu_ms_per_request']} ms CPU a request, "
        f"split API {sr['server_cpu_ms_per_request']} ms -> x{rf['ratio_cpu_per_request_bare_to_split_api']}; "
        f"that is {rf['split_api_share_of_a_booking']} of the split API's booking and "
        f"{rf['bare_share_of_a_booking']} of the bare endpoint's"
    )
    if a.against:
        ru, vs = result["split_at_ref"]["uncontended"], result["against"]
        print(
            f"contention: split API at {a.against} {ru['bookings_per_s']}/s ({ru['server_cpu_ms_per_request']} ms) "
            f"-> x{vs['ratio_split_api_at_ref_to_bare']}; CPU per request {a.against} / this code: "
            f"x{vs['ratio_cpu_per_request_ref_to_split_api']}"
        )
    return result


if __name__ == "__main__":
    main()
