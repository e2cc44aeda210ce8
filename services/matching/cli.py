"""The matching service's own subcommand: ``clustergrowth allocate`` solves an instance file offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clustergrowth.component import Command


def _allocate(args: argparse.Namespace) -> int:
    from allocation.instance import InvalidInstance, parse
    from allocation.optimal import optimal
    from allocation.report import explain_all, report
    from allocation.stable import stable

    try:
        data = json.loads(Path(args.instance).read_text())
    except (OSError, ValueError) as e:
        print(f"clustergrowth allocate: cannot read {args.instance}: {e}", file=sys.stderr)
        return 2
    try:
        inst = parse(data)
    except InvalidInstance as e:
        print(f"clustergrowth allocate: the instance has {len(e.problems)} problem(s):", file=sys.stderr)
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    assigned = stable(inst) if args.mode == "stable" else optimal(inst, supervisor_ties=args.supervisor_ties)
    out = report(inst, assigned, args.mode)
    if args.explain:
        out["explanations"] = explain_all(inst, assigned)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _configure(al: argparse.ArgumentParser) -> None:
    al.add_argument("instance", help="path of the instance file")
    al.add_argument("--mode", choices=["stable", "optimal"], default="stable")
    al.add_argument(
        "--supervisor-ties",
        action="store_true",
        help="optimal mode: among equally good allocations prefer the supervisors' favourites (slower)",
    )
    al.add_argument("--explain", action="store_true", help="add why-this/why-not per student")


ALLOCATE = Command("allocate", "solve a student-project allocation instance (JSON) offline", _configure, _allocate)
