"""A pytest plugin that `make mutate` loads (as ``-p mutation_cache_reset``) into every test run.

- mutmut forks each mutant's worker from the process that already ran the whole suite to learn which
  tests run which function, so a ``functools.cache`` filled there (the questionnaire loader, the code
  lists) is inherited: the tests would read the cached result and never run a mutant of the code
  behind it. At the start of each session this clears every such cache defined in the project.
- mutmut runs a mutant's tests with ``-x`` (the first failure ends the run) in no particular order.
  Once it has measured the tests (mutants/mutmut-stats.json), this runs the selected test files
  cheapest first, each file's tests together and in their own order: a mutant that a quick unit test
  kills is not first put through the slow component tests. Which tests run, and their verdicts, do
  not change.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

PACKAGES = ("allocation", "clustergrowth", "contracts", "services", "gateway", "instance")


def pytest_sessionstart(session: Any) -> None:
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in PACKAGES:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    try:
        durations: dict[str, float] = json.loads(Path("mutmut-stats.json").read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    per_file: dict[str, float] = defaultdict(float)
    for item in items:
        per_file[item.nodeid.split("::")[0]] += durations.get(item.nodeid, 0.0)
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (per_file[item.nodeid.split("::")[0]], order[id(item)]))
