"""Gateway hop cost: the same request straight to the facilities service, through the gateway's
compiled front (``clustergrowth run edge``, the front door of the distributed mode: hyper on tokio),
and through nginx (Debian's package, unpacked under .cache by provision.sh) as a reference proxy. (The Python
gateway's proxy mode, once a third target, no longer answers /api/v1: issue 20.)

Load comes from a small raw-socket HTTP/1.1 client (keep-alive, one request in flight per
connection) so that the client itself adds as little as possible. Three phases per target:
1. one client, sequential, in interleaved rounds: the median of the rounds' p50 and p99;
2. saturation: 16 connections in a closed loop for a few seconds: requests per second;
3. half of the direct path's saturation rate, open loop (latency counted from the scheduled send
   time, so a stall is not hidden), in interleaved rounds (``--half-rounds``, 7): the median of the
   rounds' p50 and p99, and the median of each round's p99 ratio to the direct path's round next to it
   (a p99 here is decided by the shared cores' stalls: one round's p99 moved from 2.5 to 28.8 ms for the
   same direct path within a minute, so three rounds' median was one stall away from either answer).
4. CPU per proxied request: user + system time of the front's processes (read from /proc: nginx's
   master and worker, the compiled front's one process) over a fixed number of requests on 16
   connections, divided by that number; the same count for every front in the same run, in
   interleaved rounds (``--cpu-rounds``): the median round per front, and the median of each round's
   ratio to nginx's round next to it (paired, so a noisy stretch of the shared machine weighs on both
   sides of a ratio). On a shared machine sub-0.1 ms latency differences are noise; CPU time per
   request much less so. Like for like: nginx runs with ``access_log off`` and the compiled front
   writes no line per request either (its log has starts, stops and failures only).
All servers and the client share the machine's cores; the figures are ratios within one run.

Every front runs with quotas off, like nginx. Two more targets show what quotas cost on the
compiled front: counted in its memory (``edge+quotas``) and shared in Redis (``edge+redis``, the
distributed mode with several replicas; one Redis round trip per request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import provision, summary_ms, write_result
from tests.backends import native_redis

CLI = str(Path(sys.executable).parent / "clustergrowth")
PATH = "/api/v1/facilities/resources/ork-rubicon-desk-1"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream facilities {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 10000000; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://facilities;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


# nginx doing the compiled front's per-request work (bench.edge_instructions' nginx+rules): a request id
# made and passed on, X-Forwarded-For, a traceparent, the six security headers and the request id on
# every answer, the body cap, the service's connect and answer timeouts. Inserted after the location's
# proxy_set_header Connection "" line of NGINX_CONF.
NGINX_RULES = """
      proxy_set_header X-Request-ID $request_id;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header traceparent "00-$request_id-0123456789abcdef-01";
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
      client_max_body_size 1m;
      add_header X-Request-ID $request_id always;
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options DENY always;
      add_header Referrer-Policy no-referrer always;
      add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
      add_header Cross-Origin-Resource-Policy same-site always;
      add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_nginx() -> str:
    """Debian's nginx, unpacked under .cache (``deploy/native/provision.sh nginx``), not installed."""
    return provision("nginx")


class Conn:
    """One keep-alive HTTP/1.1 connection; ``get`` sends the request and reads one whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    @classmethod
    async def open(cls, port: int, token: str) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
        return cls(reader, writer, request)

    async def get(self) -> int:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line[15:])
            elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                chunked = True
        if chunked:
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        elif length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def sequential(port: int, token: str, n: int) -> dict[str, Any]:
    c = await Conn.open(port, token)
    for _ in range(max(50, n // 10)):  # warm-up
        await c.get()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        assert await c.get() == 200
        times.append(time.perf_counter() - t)
    c.close()
    return summary_ms(times)


async def saturation(port: int, token: str, seconds: float, connections: int = 16) -> float:
    conns = [await Conn.open(port, token) for _ in range(connections)]
    done = 0
    stop = time.perf_counter() + seconds

    async def loop(c: Conn) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            assert await c.get() == 200
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return done / elapsed


async def open_loop(port: int, token: str, rate: float, seconds: float, connections: int = 64) -> dict[str, Any]:
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Conn.open(port, token))
    times: list[float] = []
    n = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        c = await pool.get()
        assert await c.get() == 200
        times.append(time.perf_counter() - scheduled)
        pool.put_nowait(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    while not pool.empty():
        pool.get_nowait().close()
    return summary_ms(times)


def cpu_seconds(pid: int, user_only: bool = False) -> float:
    """User + system (or user only) CPU time of a process and all its descendants (all threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + (0 if user_only else int(fields[12]))) / tick  # utime, stime (fields 14, 15)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def fixed_count(port: int, token: str, n: int, connections: int = 16) -> None:
    """Exactly ``n`` requests, on ``connections`` keep-alive connections in a closed loop."""
    conns = [await Conn.open(port, token) for _ in range(connections)]
    left = n

    async def loop(c: Conn) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            assert await c.get() == 200

    await asyncio.gather(*(loop(c) for c in conns))
    for c in conns:
        c.close()


def cpu_per_request(pid: int, port: int, token: str, n: int) -> dict[str, Any]:
    asyncio.run(fixed_count(port, token, min(n, 2000)))  # warm-up: pools filled, caches hot
    before, user_before = cpu_seconds(pid), cpu_seconds(pid, user_only=True)
    t0 = time.perf_counter()
    asyncio.run(fixed_count(port, token, n))
    wall = time.perf_counter() - t0
    used, user = cpu_seconds(pid) - before, cpu_seconds(pid, user_only=True) - user_before
    return {
        "requests": n,
        "cpu_s": round(used, 3),
        "cpu_us_per_request": round(used / n * 1e6, 1),
        "user_us_per_request": round(user / n * 1e6, 1),
        "wall_s": round(wall, 2),
    }


def bench_token(env: dict[str, str]) -> str:
    """A student's token from the region's development issuer (the request every target answers)."""
    command = [CLI, "token", "--sub", "bench", "--role", "student", "--region", "IE05"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()


def stop_all(procs: list[subprocess.Popen[bytes]], timeout_s: float = 15) -> None:
    """Ask every server to stop, then wait for each; kill one that does not stop in time."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(port: int, path: str = "/healthz") -> None:
    import httpx

    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


def hop_cost(t: dict[str, Any], name: str, added_ngx: float) -> dict[str, Any]:
    """What one front adds over the direct path, against the issue's three targets."""
    added = t[name]["one_client"]["p50_ms"] - t["direct"]["one_client"]["p50_ms"]
    p99_ratio = t[name]["half_saturation"]["p99_ms"] / t["direct"]["half_saturation"]["p99_ms"]
    return {
        "added_p50_ms": round(added, 3),
        "p99_half_saturation_vs_direct": round(p99_ratio, 2),
        "p99_half_saturation_vs_direct_paired_median": paired_p99(t, name),
        "added_vs_nginx_added": round(added / added_ngx, 2) if added_ngx > 0 else None,
        "targets_met": {
            "added_p50_le_0.3ms": added <= 0.3,
            "p99_half_saturation_le_1.25x_direct": p99_ratio <= 1.25,
            "added_le_2x_nginx": added_ngx > 0 and added <= 2 * added_ngx,
        },
    }


def paired_p99(t: dict[str, Any], name: str) -> float:
    """The median over the half-load rounds of this front's p99 / the direct path's p99 in the same round."""
    mine, direct = t[name]["half_saturation"]["rounds_p99_ms"], t["direct"]["half_saturation"]["rounds_p99_ms"]
    return round(statistics.median(m / d for m, d in zip(mine, direct, strict=True) if d > 0), 2)


def quick(a: argparse.Namespace) -> dict[str, Any]:
    """The phases asked for, on direct, nginx, the compiled front and each ``--edge-bin``, nothing saved."""
    nginx = ensure_nginx()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env = {**os.environ, "CG_DATA_DIR": str(tmp / "data"), "CG_LOG_LEVEL": "WARNING", "CG_GATEWAY_RATE_LIMITS": "false"}
    p_service, p_nginx = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    log = open(tmp / "servers.log", "wb")
    result: dict[str, Any] = {}
    try:
        procs.append(subprocess.Popen([CLI, "run", "facilities", "--port", str(p_service)], env=env, stderr=log))
        wait_ready(p_service, "/readyz")
        gw_env = {**env, "CG_GATEWAY_MODE": "proxy", "CG_GATEWAY_FACILITIES_URL": f"http://127.0.0.1:{p_service}"}
        fronts = {"edge": gw_env} | {
            f"edge:{label}": {**gw_env, "CG_EDGE_BIN": path} for label, path in (e.split("=", 1) for e in a.edge_bin)
        }
        targets, pids = {"direct": p_service}, {}
        for name, front_env in fronts.items():
            targets[name] = free_port()
            procs.append(
                subprocess.Popen([CLI, "run", "edge", "--port", str(targets[name])], env=front_env, stderr=log)
            )
            pids[name] = procs[-1].pid
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=p_service, port=p_nginx))
        procs.append(subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stderr=log))
        targets["nginx"], pids["nginx"] = p_nginx, procs[-1].pid
        for name in fronts:
            wait_ready(targets[name])
        wait_ready(p_nginx, "/healthz")
        token = bench_token(env)
        if "cpu" in a.quick:
            cpu: dict[str, list[dict[str, Any]]] = {name: [] for name in pids}
            for _ in range(a.rounds):
                for name, pid in pids.items():
                    cpu[name].append(cpu_per_request(pid, targets[name], token, a.cpu_requests))
            result["cpu_us_per_request"] = {
                n: {k: statistics.median(r[k] for r in runs) for k in ("cpu_us_per_request", "user_us_per_request")}
                | {"rounds": [r["cpu_us_per_request"] for r in runs]}
                for n, runs in cpu.items()
            }
        if "half" in a.quick:
            half = asyncio.run(saturation(p_service, token, a.seconds)) / 2
            p99: dict[str, list[float]] = {name: [] for name in targets}
            for _ in range(a.half_rounds):
                for name, port in targets.items():
                    p99[name].append(asyncio.run(open_loop(port, token, half, a.seconds))["p99_ms"])
            ratio = {n: round(statistics.median(r) / statistics.median(p99["direct"]), 2) for n, r in p99.items()}
            rounds = {n: {"half_saturation": {"rounds_p99_ms": r}} for n, r in p99.items()}
            paired = {n: paired_p99(rounds, n) for n in p99}
            result["half_load"] = {
                "rps": round(half, 1),
                "p99_ms": p99,
                "median_vs_direct": ratio,
                "paired_median_vs_direct": paired,
            }
    finally:
        stop_all(procs)
        log.close()
    print(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=3000, help="sequential requests per target and round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the one-client phase (median)")
    p.add_argument("--seconds", type=float, default=5.0, help="duration of the saturation and half-load phases")
    p.add_argument("--half-rounds", type=int, default=7, help="interleaved rounds of the half-load phase (median)")
    p.add_argument("--cpu-requests", type=int, default=20000, help="requests per front for the CPU phase")
    p.add_argument("--cpu-rounds", type=int, default=5, help="interleaved rounds of the CPU phase (median)")
    p.add_argument(
        "--quick",
        choices=("cpu", "half"),
        action="append",
        help="only this phase (cpu: CPU per request; half: saturation, then the half-load rounds), only the"
        " edge, nginx and direct targets; printed, not written to bench/results. Repeatable",
    )
    p.add_argument(
        "--edge-bin",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="one more compiled front, this binary (CG_EDGE_BIN), as target edge:LABEL: an A/B comparison in one run",
    )
    a = p.parse_args(argv)
    if a.quick:
        return quick(a)
    nginx = ensure_nginx()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env = {**os.environ, "CG_DATA_DIR": str(tmp / "data"), "CG_LOG_LEVEL": "WARNING", "CG_GATEWAY_RATE_LIMITS": "false"}
    p_service, p_edge, p_nginx = free_port(), free_port(), free_port()
    p_quotas, p_redis = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    log = open(tmp / "servers.log", "wb")
    redis, redis_url = native_redis(tmp)
    try:
        procs.append(subprocess.Popen([CLI, "run", "facilities", "--port", str(p_service)], env=env, stderr=log))
        wait_ready(p_service, "/readyz")
        gw_env = {**env, "CG_GATEWAY_MODE": "proxy", "CG_GATEWAY_FACILITIES_URL": f"http://127.0.0.1:{p_service}"}
        # clustergrowth run edge replaces itself with the front (execve): each Popen's pid is the front's
        procs.append(subprocess.Popen([CLI, "run", "edge", "--port", str(p_edge)], env=gw_env, stderr=log))
        pids = {"edge": procs[-1].pid}
        # quotas on, high enough never to refuse the bench's requests
        quota_env = {**gw_env, "CG_GATEWAY_RATE_LIMITS": "true", "CG_GATEWAY_RATE_PER_PRINCIPAL": "100000000"}
        quota_env |= {"CG_GATEWAY_RATE_PER_ADDRESS": "100000000"}
        procs.append(subprocess.Popen([CLI, "run", "edge", "--port", str(p_quotas)], env=quota_env, stderr=log))
        pids["edge+quotas"] = procs[-1].pid
        redis_env = {**quota_env, "CG_GATEWAY_RATE_STORE_URL": redis_url}
        procs.append(subprocess.Popen([CLI, "run", "edge", "--port", str(p_redis)], env=redis_env, stderr=log))
        pids["edge+redis"] = procs[-1].pid
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=p_service, port=p_nginx))
        procs.append(subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stderr=log))
        pids["nginx"] = procs[-1].pid  # the master; its worker is counted as its child
        for port in (p_edge, p_quotas, p_redis):
            wait_ready(port)
        wait_ready(p_nginx, "/healthz")
        token = bench_token(env)
        targets = {
            "direct": p_service,
            "edge": p_edge,
            "nginx": p_nginx,
            "edge+quotas": p_quotas,
            "edge+redis": p_redis,
        }
        result: dict[str, Any] = {"request": f"GET {PATH}", "redis": redis_url, "targets": {}}
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for _ in range(a.rounds):  # interleaved, so that drift on a shared machine hits every target alike
            for name, port in targets.items():
                rounds[name].append(asyncio.run(sequential(port, token, a.requests)))
        for name, port in targets.items():
            seq = {k: statistics.median(r[k] for r in rounds[name]) for k in ("p50_ms", "p99_ms")}
            seq["rounds"] = a.rounds
            rps = asyncio.run(saturation(port, token, a.seconds))
            result["targets"][name] = {"one_client": seq, "saturation_rps": round(rps, 1)}
        half = result["targets"]["direct"]["saturation_rps"] / 2
        loaded: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for _ in range(a.half_rounds):  # interleaved as well: one noisy stretch does not decide a p99
            for name, port in targets.items():
                loaded[name].append(asyncio.run(open_loop(port, token, half, a.seconds)))
        for name in targets:
            hs = {k: statistics.median(r[k] for r in loaded[name]) for k in ("p50_ms", "p99_ms")}
            hs["rounds_p99_ms"] = [r["p99_ms"] for r in loaded[name]]
            result["targets"][name]["half_saturation"] = hs
        t = result["targets"]
        result["half_saturation_rps"] = round(half, 1)
        added_ngx = t["nginx"]["one_client"]["p50_ms"] - t["direct"]["one_client"]["p50_ms"]
        result["nginx_added_p50_ms"] = round(added_ngx, 3)
        result["fronts"] = {name: hop_cost(t, name, added_ngx) for name in ("edge",)}
        result["with_quotas"] = {name: hop_cost(t, name, added_ngx) for name in ("edge+quotas", "edge+redis")}
        cpu: dict[str, list[dict[str, Any]]] = {name: [] for name in pids}
        for _ in range(a.cpu_rounds):  # interleaved; the median round per front
            for name, pid in pids.items():
                cpu[name].append(cpu_per_request(pid, targets[name], token, a.cpu_requests))
        result["cpu_per_request"] = {
            name: {
                "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in runs),
                "user_us_per_request": statistics.median(r["user_us_per_request"] for r in runs),
                "rounds": runs,
            }
            for name, runs in cpu.items()
        }
        ngx_cpu = result["cpu_per_request"]["nginx"]["cpu_us_per_request"]
        for name in ("edge", "edge+quotas", "edge+redis"):
            own = result["cpu_per_request"][name]["cpu_us_per_request"]
            result["cpu_per_request"][name]["vs_nginx"] = round(own / ngx_cpu, 2)
            paired = [r["cpu_s"] / n["cpu_s"] for r, n in zip(cpu[name], cpu["nginx"], strict=True) if n["cpu_s"] > 0]
            result["cpu_per_request"][name]["vs_nginx_paired_median"] = round(statistics.median(paired), 2)
        result["fronts"]["edge"]["targets_met"]["cpu_per_request_le_nginx"] = (
            result["cpu_per_request"]["edge"]["cpu_us_per_request"] <= ngx_cpu
        )
    finally:
        redis.stop()
        stop_all(procs)
        log.close()
    path = write_result("gateway", result)
    print(f"{'target':>11} | {'1 client p50':>12} {'p99':>8} | {'saturation':>10} | half load p50 {'p99':>8}")
    for name, r in result["targets"].items():
        one, hs = r["one_client"], r["half_saturation"]
        print(
            f"{name:>11} | {one['p50_ms']:>9} ms {one['p99_ms']:>8} | {r['saturation_rps']:>6} r/s | "
            f"{hs['p50_ms']:>10} ms {hs['p99_ms']:>8}"
        )
    print(f"nginx adds {result['nginx_added_p50_ms']} ms at p50; half load = {result['half_saturation_rps']} r/s")
    for name, f in result["fronts"].items():
        print(
            f"{name} adds {f['added_p50_ms']} ms at p50 ({f['added_vs_nginx_added']} x nginx's); "
            f"p99 at half load = {f['p99_half_saturation_vs_direct']} x direct (paired by round "
            f"{f['p99_half_saturation_vs_direct_paired_median']}); targets met: {f['targets_met']}"
        )
    for name, f in result["with_quotas"].items():
        print(
            f"{name} adds {f['added_p50_ms']} ms at p50; "
            f"p99 at half load = {f['p99_half_saturation_vs_direct']} x direct"
        )
    for name, c in result["cpu_per_request"].items():
        paired = c.get("vs_nginx_paired_median")
        extra = f" ({c['vs_nginx']} x nginx's; paired by round {paired})" if "vs_nginx" in c else ""
        print(f"{name} CPU per request: {c['cpu_us_per_request']} us, user {c['user_us_per_request']} us{extra}")
    print(f"[{path}]")
    return result


if __name__ == "__main__":
    main()
