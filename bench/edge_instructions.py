"""User-space instructions per proxied request: the compiled front against nginx, under callgrind.

CPU time per request (``bench.gateway``) moves with the shared machine by more than the gap between the
two fronts; an instruction count does not. Each front runs under valgrind's callgrind (Debian's
``valgrind``, installed here if missing) in front of the same facilities service: 2,000 requests warm
it up (pools filled), its counters are zeroed (``callgrind_control -z``), ``--requests`` requests go
through it on 16 keep-alive connections (``bench.gateway``'s raw-socket client), and the counters are
dumped (``callgrind_control -d``): the total, divided by the count, is the instructions a request. Only
user space is counted (the kernel's share, the sockets' system calls, is not: ``bench.gateway`` reads
it as system time). nginx runs as one process (``master_process off``, ``worker_processes 1``) with the
configuration ``bench.gateway`` uses; the front is the release build ``make edge`` makes (``--edge-bin``
for another). The ratio front / nginx is printed and written to ``bench/results/edge_instructions.json``.

Beside them, the floor (``--no-floor`` skips it): ``gateway/edge/examples/floor.rs``, the least proxy on the
front's crates and build (hyper's server and client connection on one tokio thread, one service connection
per client connection, no rule, pool, deadline or metric; ``provision.sh edge-floor`` builds it). What the
front runs above the floor is the cost of its rules, pool and deadlines, not of hyper. And nginx doing the
front's per-request work as well (``nginx+rules``, ``NGINX_RULES``: the request id made and passed on,
X-Forwarded-For, a traceparent, the six security headers and the request id on the answer, the body cap
and the service's timeouts): the front's rules against the same rules in nginx.

Run: ``make edge && .venv/bin/python -m bench.edge_instructions`` (part of ``make bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import provision, write_result
from bench.gateway import (
    CLI,
    NGINX_CONF,
    NGINX_RULES,
    bench_token,
    ensure_nginx,
    fixed_count,
    free_port,
    stop_all,
    wait_ready,
)
from gateway.front import edge_binary

WARM = 2000


def ensure_valgrind() -> str:
    """Debian's valgrind (callgrind and callgrind_control): installed with apt-get when missing."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "valgrind"], check=True, env=env)
    found = shutil.which("valgrind")
    if found is None:
        raise RuntimeError("valgrind is not installed and apt-get did not install it")
    return found


def dumped_total(out: Path, pid: int) -> int:
    """The instruction total of the dump that ``callgrind_control -d`` made (``<out>.<pid>.1``)."""
    path = out.parent / f"{out.name}.{pid}.1"
    for _ in range(100):  # the dump is written by the running process: wait for its summary line
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
        time.sleep(0.1)
    raise RuntimeError(f"callgrind wrote no dump at {path}")


FLOOR = (
    "gateway/edge/examples/floor.rs: hyper 1.x server and client connection on tokio (one thread), the front's"
    " crates and build, one service connection per client connection, the request and answer passed through"
    " as hyper reads them; no rule, pool, deadline or metric: the least a front on hyper does for a request"
)


def count(pid: int, port: int, token: str, requests: int, out: Path) -> float:
    """Instructions a request of the front whose valgrind runs as ``pid``."""
    asyncio.run(fixed_count(port, token, WARM))
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    asyncio.run(fixed_count(port, token, requests))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    return dumped_total(out, pid) / requests


def valgrind_pid(launcher: subprocess.Popen[bytes]) -> int:
    """The process valgrind runs in: the launcher itself, or its one child (``clustergrowth run edge``)."""
    for _ in range(50):
        children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
        if children:
            return int(children[0])
        if "valgrind" in Path(f"/proc/{launcher.pid}/cmdline").read_text():
            return launcher.pid
        time.sleep(0.1)
    raise RuntimeError("the front under valgrind did not start")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=3000, help="counted requests per front (after 2,000)")
    p.add_argument("--edge-bin", help="the front's binary (default: the release build make edge made)")
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the floor: gateway/edge/examples/floor.rs, the least proxy on the front's crates",
    )
    a = p.parse_args(argv)
    valgrind, nginx = ensure_valgrind(), ensure_nginx()
    edge = a.edge_bin or edge_binary()
    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-instructions-"))
    env = {**os.environ, "CG_DATA_DIR": str(tmp / "data"), "CG_LOG_LEVEL": "WARNING", "CG_GATEWAY_RATE_LIMITS": "false"}
    p_service, p_edge, p_nginx, p_floor, p_rules = (free_port() for _ in range(5))
    procs: list[subprocess.Popen[bytes]] = []
    log = open(tmp / "servers.log", "wb")
    out = {name: tmp / f"{name}.callgrind" for name in ("edge", "floor", "nginx", "nginx+rules")}
    per_request: dict[str, float] = {}
    try:
        procs.append(subprocess.Popen([CLI, "run", "facilities", "--port", str(p_service)], env=env, stderr=log))
        wait_ready(p_service, "/readyz")
        token = bench_token(env)

        wrapper = tmp / "edge-under-callgrind.sh"  # CG_EDGE_BIN: clustergrowth run edge starts valgrind
        wrapper.write_text(
            f'#!/bin/sh\nexec {valgrind} -q --tool=callgrind --callgrind-out-file={out["edge"]}.%p {edge} "$@"\n'
        )
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        front_env = {
            **env,
            "CG_GATEWAY_MODE": "proxy",
            "CG_GATEWAY_FACILITIES_URL": f"http://127.0.0.1:{p_service}",
            "CG_EDGE_BIN": str(wrapper),
        }
        procs.append(subprocess.Popen([CLI, "run", "edge", "--port", str(p_edge)], env=front_env, stderr=log))
        wait_ready(p_edge)
        per_request["edge"] = count(valgrind_pid(procs[-1]), p_edge, token, a.requests, out["edge"])

        if a.floor:
            floor = provision("edge-floor")
            command = [valgrind, "-q", "--tool=callgrind", f"--callgrind-out-file={out['floor']}.%p"]
            address = f"127.0.0.1:{p_floor}"
            procs.append(subprocess.Popen([*command, floor, address, f"127.0.0.1:{p_service}"], stderr=log))
            wait_ready(p_floor)
            per_request["floor"] = count(procs[-1].pid, p_floor, token, a.requests, out["floor"])

        for name, port, rules in (("nginx", p_nginx, ""), ("nginx+rules", p_rules, NGINX_RULES)):
            conf = tmp / f"{name}.conf"
            text = NGINX_CONF.format(tmp=tmp, upstream=p_service, port=port).replace(
                'proxy_set_header Connection "";', 'proxy_set_header Connection "";' + rules
            )
            conf.write_text(f"master_process off;\npid {tmp}/{name}.pid;\n" + text.replace(f"pid {tmp}/nginx.pid;", ""))
            command = [valgrind, "-q", "--tool=callgrind", f"--callgrind-out-file={out[name]}.%p"]
            procs.append(subprocess.Popen([*command, nginx, "-c", str(conf), "-p", str(tmp)], stderr=log))
            wait_ready(port, "/healthz")
            per_request[name] = count(procs[-1].pid, port, token, a.requests, out[name])
    finally:
        stop_all(procs[::-1], timeout_s=30)
        log.close()
    ratio = per_request["edge"] / per_request["nginx"]
    result = {
        "request": "GET /api/v1/facilities/resources/ork-rubicon-desk-1 with a bearer token",
        "requests_counted": a.requests,
        "warm_up_requests": WARM,
        "instructions_per_request": {k: round(v) for k, v in per_request.items()},
        "ratio_edge_to_nginx": round(ratio, 3),
        "nginx_rules": [line.strip() for line in NGINX_RULES.strip().splitlines()],
        "ratio_edge_to_nginx_with_rules": round(per_request["edge"] / per_request["nginx+rules"], 3),
    }
    if "floor" in per_request:
        floor = per_request["floor"]
        result["floor"] = FLOOR
        result["ratio_floor_to_nginx"] = round(floor / per_request["nginx"], 3)
        result["edge_above_floor_per_request"] = round(per_request["edge"] - floor)
    path = write_result("edge_instructions", result)
    print(
        f"user-space instructions a proxied request (callgrind, {a.requests} after {WARM}): "
        f"front {per_request['edge']:,.0f}, nginx {per_request['nginx']:,.0f} -> x{ratio:.2f} ({path})"
    )
    print(
        f"nginx doing the front's per-request work too (nginx+rules): {per_request['nginx+rules']:,.0f}"
        f" -> the front is x{result['ratio_edge_to_nginx_with_rules']:.2f} of it"
    )
    if "floor" in per_request:
        print(
            f"the floor on hyper (no rule, no pool): {per_request['floor']:,.0f}"
            f" -> x{result['ratio_floor_to_nginx']:.2f} nginx's; the front's rules, pool and deadlines:"
            f" {result['edge_above_floor_per_request']:,} more"
        )
    return result


if __name__ == "__main__":
    main()
