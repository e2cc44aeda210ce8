"""Lighthouse scores of the web client's main pages (issue 21): performance, accessibility and best
practices, as Lighthouse (npm, pinned by bench/lighthouse/package-lock.json) measures them with Debian's
Chromium against ``clustergrowth run`` (demo data, one process) on a free port. Pages behind sign-in are
read with a demo persona's session cookie. Targets: accessibility 100, performance >= 95, best practices
>= 95 (Lighthouse's scores out of 100; its default mobile emulation and simulated throttling). Each page is
scored once per round; the figure is the median of the rounds. Writes bench/results/lighthouse.json;
each page's last full report stays in .cache/lighthouse/reports/ (open it to see what cost points).

Run: ``python -m bench.lighthouse`` (add ``--rounds N``, ``--pages home,explorer``)."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import provision, write_result

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "clustergrowth")
CATEGORIES = ("performance", "accessibility", "best-practices")
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 95}
REPORTS = ROOT / ".cache" / "lighthouse" / "reports"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"


def pages() -> dict[str, tuple[str, str | None]]:
    """Page -> (path, persona signed in or None)."""
    day = (date.today() + timedelta(days=7)).isoformat()
    return {
        "home": ("/", None),
        "facilities search": ("/facilities?q=cork", "demo-sme"),
        "site availability": (f"/facilities/sites/ork-rubicon?day={day}", "demo-sme"),
        "cluster explorer": ("/explorer?need=finance", "demo-analyst"),
        "councils": ("/councils", "demo-sme"),
        "matching marketplace": ("/matching", "demo-student"),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CG_DATA_DIR": str(data / "data"), "CG_LOG_LEVEL": "WARNING"}
    with open(data / "run.log", "ab") as log:
        proc = subprocess.Popen([CLI, "run", "--host", "127.0.0.1", "--port", str(port)], env=env, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit(f"the stack did not start: {(data / 'run.log').read_text()[-2000:]}")
        time.sleep(0.3)


def session_cookie(url: str, persona: str) -> str:
    """Sign in as a demo persona through the web client's own form; the session cookie it sets."""
    with httpx.Client(base_url=url) as client:
        home = client.get("/")
        found = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert found, "no sign-in form on the start page"
        r = client.post("/sign-in/persona", data={"csrf": found.group(1), "persona": persona, "next": "/"})
        assert r.status_code == 303, (persona, r.status_code, r.text[:300])
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def score(lighthouse: str, chromium: str, url: str, cookie: str | None, out: Path) -> dict[str, Any]:
    """One Lighthouse run of one page: its category scores (0-100) and the audits that cost points."""
    command = [
        lighthouse,
        url,
        "--quiet",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--output=json",
        f"--output-path={out}",
    ]
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    subprocess.run(command, check=True, env={**os.environ, "CHROME_PATH": chromium}, timeout=300)
    report = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise SystemExit(f"Lighthouse could not load {url}: {report['runtimeError']}")
    final = report.get("finalDisplayedUrl") or report.get("finalUrl", "")
    lost = sorted(
        {
            ref["id"]
            for c in CATEGORIES
            for ref in report["categories"][c]["auditRefs"]
            if ref["weight"] > 0
            and report["audits"][ref["id"]].get("score") is not None
            and report["audits"][ref["id"]]["score"] < 1
        }
    )
    return {
        "scores": {c: round(100 * report["categories"][c]["score"]) for c in CATEGORIES},
        "final_url": final,
        "lost_points_on": lost,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lighthouse", description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pages", default="", help="comma-separated page names (default: all)")
    args = ap.parse_args(argv)
    chosen = pages()
    if args.pages:
        chosen = {k: v for k, v in chosen.items() if k in args.pages.split(",")}
    lighthouse, chromium = provision("lighthouse"), provision("chromium")
    version = subprocess.run([lighthouse, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    results: dict[str, Any] = {}
    REPORTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp))
        try:
            cookies = {p: session_cookie(url, p) for p in {persona for _, persona in chosen.values() if persona}}
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
            for _ in range(args.rounds):  # rounds interleave the pages, so the machine's load spreads over all
                for name, (path, persona) in chosen.items():
                    report = REPORTS / f"{name.replace(' ', '-')}.json"
                    got = score(lighthouse, chromium, url + path, cookies.get(persona or ""), report)
                    if persona and "/sign-in" in got["final_url"]:
                        raise SystemExit(f"{name}: the session did not reach the page ({got['final_url']})")
                    runs[name].append(got)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"Lighthouse {version}, Chromium {chromium}, {args.rounds} round(s), median per page:")
    for name, rs in runs.items():
        median = {c: statistics.median(r["scores"][c] for r in rs) for c in CATEGORIES}
        met = {c: median[c] >= TARGETS[c] for c in CATEGORIES}
        lost = sorted({a for r in rs for a in r["lost_points_on"]})
        results[name] = {"path": chosen[name][0], "median": median, "met": met, "rounds": rs, "lost_points_on": lost}
        shown = "  ".join(
            f"{c} {median[c]:g}{'' if met[c] else ' (target ' + str(TARGETS[c]) + ')'}" for c in CATEGORIES
        )
        print(f"  {name:22} {shown}   lost points on: {', '.join(lost) or '-'}")
    write_result(
        "lighthouse",
        {"lighthouse": version, "targets": TARGETS, "rounds": args.rounds, "pages": results},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
