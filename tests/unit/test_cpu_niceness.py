"""CG_CPU_NICENESS: `clustergrowth run` lowers its own CPU priority by that much before it serves.

Each run is a child process (a niceness once raised cannot be lowered again without privilege, and the
test runner's own must stay as it is); uvicorn's ``run`` is replaced there by a line printing the niceness
the process serves with, read by ``os.getpriority`` (the kernel's answer, not the setting echoed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import os, sys, uvicorn
uvicorn.run = lambda app, **_: print("serving at", os.getpriority(os.PRIO_PROCESS, 0), flush=True)
from instance.cli import main
sys.exit(main(["run", sys.argv[1]]))
"""


def run(tmp_path: Path, niceness: str | None, service: str = "facilities") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    env |= {"CG_DATA_DIR": str(tmp_path), "CG_SEED_DEMO": "false", "CG_LOG_LEVEL": "WARNING"}
    if niceness is not None:
        env["CG_CPU_NICENESS"] = niceness
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", CHILD, service], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )


def served_at(done: subprocess.CompletedProcess[str]) -> int:
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split("serving at", 1)[1].split()[0])


OWN = os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.skipif(OWN > 0, reason="the runner already has a lowered priority: 19 would not be 19 above it")
@pytest.mark.parametrize(("given", "expected"), [(None, OWN), ("0", OWN), ("1", OWN + 1), ("19", 19)])
def test_the_process_serves_at_the_niceness_asked(tmp_path: Path, given: str | None, expected: int) -> None:
    assert served_at(run(tmp_path, given)) == expected


@pytest.mark.parametrize("given", ["-1", "20", "ten"])
def test_a_niceness_out_of_range_stops_the_start_naming_the_setting(tmp_path: Path, given: str) -> None:
    done = run(tmp_path, given)
    assert done.returncode != 0 and "serving at" not in done.stdout
    assert "clustergrowth: bad configuration:" in done.stderr and "cpu_niceness" in done.stderr
