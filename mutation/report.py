"""The mutation report: counts and score per module and overall, and every mutant the tests let live.

Reads what mutmut left in ``.cache/mutation/`` (``mutants/**/*.py.meta``: each mutant's exit code and
time; ``mutants/mutmut-stats.json``: the tests that run each function; ``run.json``: what was run)
and writes ``<out>.md`` and ``<out>.json``. With a baseline JSON beside it (mutation/baseline.json),
the Markdown shows each module's score then and now.

Run alone to rewrite the report of the last run: ``.venv/bin/python mutation/report.py [OUT]``.

Statuses (mutmut's): killed (a test failed), timeout (the tests did not finish in the mutant's time:
counted as killed), survived (every test passed), no tests (no fast test runs the function: counted
as survived), skipped, not checked (not run yet: excluded), suspicious and segfault (excluded and
listed). Score = (killed + timeout) / (killed + timeout + survived + no tests).
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from collections import Counter, defaultdict
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".cache" / "mutation"
SEP = "ǁ"
DETECTED = ("killed", "timeout")
UNDETECTED = ("survived", "no tests")


@contextmanager
def cwd(path: Path) -> Any:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def status_of(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    status = status_by_exit_code[code]
    return "killed" if status == "caught by type check" else status


def function_of(name: str) -> tuple[str | None, str]:
    """(class, function) of a mutant name such as ``pkg.mod.xǁCǁm__mutmut_3`` or ``pkg.mod.x_f__mutmut_1``."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    if mangled.startswith("x" + SEP):
        cls, _, fn = mangled[2:].partition(SEP)
        return cls, fn
    return None, mangled[2:]


def spans(source: str) -> dict[tuple[str | None, str], tuple[int, int]]:
    """(class, function) -> (first line including decorators, last line) for top-level functions and methods."""
    out: dict[tuple[str | None, str], tuple[int, int]] = {}

    def add(node: ast.AST, cls: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            out[(cls, node.name)] = (first, node.end_lineno or node.lineno)

    for node in ast.parse(source).body:
        add(node, None)
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                add(child, node.name)
    return out


def not_mutated(source: str) -> list[str]:
    """Functions mutmut leaves alone: decorated by anything but a lone @staticmethod or @classmethod."""
    found: list[str] = []

    def check(node: ast.AST, prefix: str) -> None:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.decorator_list:
            return
        names = [ast.unparse(d) for d in node.decorator_list]
        if names in (["staticmethod"], ["classmethod"]):
            return
        found.append(f"{prefix}{node.name} (@{', @'.join(n.split('(')[0] for n in names)})")

    for node in ast.parse(source).body:
        check(node, "")
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                check(child, f"{node.name}.")
    return found


HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def locate(diff: str, source_lines: list[str], span: tuple[int, int] | None) -> tuple[int | None, str, str]:
    """The file line of a mutant's change, and the removed and added text."""
    removed: list[str] = []
    added: list[str] = []
    first_offset: int | None = None
    line_no = 0
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        m = HUNK.match(line)
        if m:
            line_no = int(m.group(1))
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
            if first_offset is None:
                first_offset = line_no
            line_no += 1
        elif line.startswith("+"):
            added.append(line[1:].strip())
            if first_offset is None:
                first_offset = line_no
        else:
            line_no += 1
    file_line: int | None = None
    if span is not None and first_offset is not None:
        guess = span[0] + first_offset - 1
        file_line = guess
        if removed:
            want = removed[0]
            candidates = [
                n
                for n in range(span[0], span[1] + 1)
                if source_lines[n - 1 : n] and source_lines[n - 1].strip() == want
            ]
            if candidates and guess not in candidates:
                file_line = min(candidates, key=lambda n: abs(n - guess))
    return file_line, " ⏎ ".join(removed), " ⏎ ".join(added)


TOKEN = re.compile(r"\w+|==|!=|<=|>=|\*\*|//|[^\s\w]")
COMPARE = {"<", "<=", ">", ">=", "==", "!="}
ARITH = {"+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"}


def changes(removed: str, added: str) -> list[tuple[str, str]]:
    """The token runs that differ between the removed and the added text, as (old, new) pairs."""
    from difflib import SequenceMatcher

    old, new = TOKEN.findall(removed), TOKEN.findall(added)
    out = []
    for op, i1, i2, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            out.append((" ".join(old[i1:i2]), " ".join(new[j1:j2])))
    return out


def hint(status: str, removed: str, added: str) -> str:
    """A first guess at the kind of test that would kill a surviving mutant, from the mutation's shape."""
    if status == "no tests":
        return "no fast test runs this function"
    diff = changes(removed, added)
    olds = {o for o, _ in diff}
    news = {n for _, n in diff}
    in_raise = removed.lstrip().startswith("raise ")
    if removed.lstrip().startswith("def "):
        return "default argument never exercised or its effect not asserted"
    if (olds | news) & COMPARE and not (olds | news) - COMPARE - {""}:
        if olds <= {"==", "!="} and news <= {"==", "!="}:
            return "branch not tested both ways (== vs !=)"
        return "boundary not tested (comparison moved by one)"
    if any(re.fullmatch(r"-?\d+(\.\d+)?", o) and re.fullmatch(r"-?\d+(\.\d+)?", n) for o, n in diff):
        return "exact value or boundary not asserted (number changed)"
    if (olds | news) <= {"and", "or"}:
        return "one side of a condition not tested (and/or swapped)"
    if "not" in olds ^ news or "is not" in olds ^ news:
        return "branch not tested both ways (negated)"
    if any(n.startswith(")") or "and False" in n or "or True" in n for n in news) or added.endswith(
        ("and False", "or True")
    ):
        return "branch not tested both ways (condition forced)"
    if (olds | news) & {"break", "continue", "return"} and not (olds | news) - {"break", "continue", "return", ""}:
        return "loop exit not tested"
    if any(re.search(r"XX", n) for n in news) or (removed.lower() == added.lower() and removed != added):
        return (
            "error message not asserted (only the error's type or status?)"
            if in_raise
            else ("text not asserted (a message, key or header value)")
        )
    if (olds | news) <= {"True", "False"}:
        return "flag not asserted (True/False swapped)"
    if (olds | news) & ARITH and not (olds | news) - ARITH:
        return "arithmetic not asserted (operator changed)"
    if re.fullmatch(r"(\w+(\.\w+)*)(: [^=]+)? = None", added) or added == "None":
        return "result not asserted (the value is replaced by None)"
    if any(n == "None" for n in news):
        return "error details not asserted" if in_raise else "argument's effect not asserted (passed as None)"
    if any(n == "" for n in news):
        return "error details not asserted" if in_raise else "argument's effect not asserted (argument dropped)"
    return "effect not asserted"


def score(counts: Counter[str]) -> float | None:
    detected = sum(counts[s] for s in DETECTED)
    judged = detected + sum(counts[s] for s in UNDETECTED)
    return round(100 * detected / judged, 1) if judged else None


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def collect(work: Path) -> dict[str, Any]:
    run = json.loads((work / "run.json").read_text())
    stats = json.loads((work / "mutants" / "mutmut-stats.json").read_text())
    tests_of: dict[str, list[str]] = stats.get("tests_by_mangled_function_name", {})
    test_seconds: dict[str, float] = stats.get("duration_by_test", {})
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    mutants: list[dict[str, Any]] = []
    modules: dict[str, dict[str, Any]] = {}
    for rel, scope in sorted(run["files"].items()):
        meta_path = work / "mutants" / f"{rel}.meta"
        source = (work / rel).read_text()
        source_lines = source.splitlines()
        fn_spans = spans(source)
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"exit_code_by_key": {}}
        counts: Counter[str] = Counter()
        seconds = 0.0
        for name, code in sorted(meta["exit_code_by_key"].items(), key=lambda kv: natural(kv[0])):
            if not any(fnmatchcase(name, g) for g in run["globs"]):
                continue
            status = status_of(code)
            counts[status] += 1
            duration = float(meta.get("durations_by_key", {}).get(name) or 0.0)
            seconds += duration
            cls, fn = function_of(name)
            tests = tests_of.get(name.partition("__mutmut_")[0], [])
            entry: dict[str, Any] = {
                "name": name,
                "file": rel,
                "function": f"{cls}.{fn}" if cls else fn,
                "status": status,
                "seconds": round(duration, 2),
                "tests": len(tests),
                # the time of its tests in the coverage run: what the mutant costs if it survives
                "tests_seconds": round(sum(test_seconds.get(t, 0.0) for t in tests), 2),
            }
            if status not in DETECTED and status != "not checked":
                with cwd(work):
                    diff = get_diff_for_mutant(name, path=rel)
                line, removed, added = locate(diff, source_lines, fn_spans.get((cls, fn)))
                entry.update(line=line, removed=removed, added=added, hint=hint(status, removed, added))
            mutants.append(entry)
        modules[rel] = {
            "scope": scope,
            "mutants": sum(counts.values()),
            **{k: counts[k] for k in sorted(counts)},
            "score": score(counts),
            "seconds": round(seconds, 1),
            "not_mutated": not_mutated(source),
        }
    project_remaining(mutants, modules)
    totals: Counter[str] = Counter(m["status"] for m in mutants)
    return {
        "source": run["source"],
        "mutmut": run.get("mutmut"),
        "settings": run["settings"],
        "elapsed_s": run["elapsed_s"],
        "runs": run.get("runs", []),
        "scopes": {name: s for name, s in run["scopes"].items()},
        "total": {"mutants": len(mutants), **{k: totals[k] for k in sorted(totals)}, "score": score(totals)},
        "modules": modules,
        "mutants": mutants,
    }


def project_remaining(mutants: list[dict[str, Any]], modules: dict[str, dict[str, Any]]) -> None:
    """For a run stopped before the end: each module's likely worker time for its unchecked mutants: their
    tests' time (what a survivor costs) scaled by what all checked mutants cost against theirs (a
    killed mutant stops at its first failing test). A rough guide, not a promise."""

    def ratio(ms: list[dict[str, Any]]) -> float | None:
        spent = sum(m["seconds"] for m in ms if m["status"] != "not checked" and m["tests_seconds"] > 0)
        worst = sum(m["tests_seconds"] for m in ms if m["status"] != "not checked" and m["tests_seconds"] > 0)
        return spent / worst if worst > 0 else None

    overall = ratio(mutants) or 1.0
    for rel, module in modules.items():
        left = [m for m in mutants if m["file"] == rel and m["status"] == "not checked"]
        module["seconds_left_estimate"] = round(sum(m["tests_seconds"] for m in left) * overall, 1)


def natural(name: str) -> tuple[str, int]:
    base, _, n = name.rpartition("__mutmut_")
    return base, int(n) if n.isdigit() else 0


COLUMNS = ["killed", "timeout", "survived", "no tests", "skipped", "not checked", "suspicious", "segfault"]


def markdown(data: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    total = data["total"]
    then = (baseline or {}).get("modules", {})
    left_min = sum(m.get("seconds_left_estimate", 0) for m in data["modules"].values()) / 60
    lines = [
        "# Mutation testing report",
        "",
        f"Made by `make mutate` (mutation/run.py, mutmut {data['mutmut']}) on the {data['source']}. "
        f"Scopes and settings: mutation/scope.toml. Tests run against each mutant: "
        f'{", ".join(data["settings"]["tests"])} with `-m "{data["settings"]["marker"]}"`, only those that '
        f"run the mutated function (mutmut's per-test coverage), {data['settings']['jobs']} workers; "
        f"a mutant's time limit is (its tests' time + {data['settings']['timeout_constant_s']} s) × "
        f"{data['settings']['timeout_multiplier']}, a test's {data['settings']['test_timeout_s']} s.",
        "",
        f"**{total['mutants']} mutants, score {pct(total['score'])}** "
        f"(killed {total.get('killed', 0)}, timeout {total.get('timeout', 0)}, survived "
        f"{total.get('survived', 0)}, no tests {total.get('no tests', 0)}"
        + "".join(f", {k} {total[k]}" for k in COLUMNS[4:] if total.get(k))
        + f"); run time {data['elapsed_s'] / 60:.1f} min.",
        "",
        *(
            [
                f"The run was stopped before the end: {total['not checked']} mutants were not run (the most "
                "expensive ones: mutmut runs the mutants with the quickest tests first), and the scores count "
                "only the mutants that were. `est. time left` is a rough guess of the worker time the rest "
                f"would take (about {left_min:.0f} min; {data['settings']['jobs']} workers share it).",
                "",
            ]
            if total.get("not checked")
            else []
        ),
        "Score = (killed + timeout) / (killed + timeout + survived + no tests).",
        "",
        *(
            [
                "Measured again in a later run (the later measurement counts): "
                + "; ".join(f"`{r['module']}` ({r['was']} → {r['now']})" for r in data["replaced"])
                + ".",
                "",
            ]
            if data.get("replaced")
            else []
        ),
    ]
    for i, segment in enumerate(data.get("runs") or [], 1):
        marks = sorted(segment.get("phases_s", {}).items(), key=lambda kv: kv[1])
        parts = "; ".join(f"{a} at {t:.0f} s" for a, t in marks)
        label = f"Run {i} of {len(data['runs'])}" if len(data["runs"]) > 1 else "Run"
        if segment.get("scopes"):
            label += f" ({segment['scopes']})"
        lines += [f"{label}: {segment['elapsed_s'] / 60:.1f} min ({parts or 'no mutmut phases'}).", ""]
    columns = [c for c in COLUMNS if c in ("killed", "timeout", "survived", "no tests", "skipped") or total.get(c)]
    header = ["module", "scope", "mutants", *columns, "score"]
    if baseline:
        header.append("baseline")
    header.append("worker time")
    unfinished = bool(total.get("not checked"))
    if unfinished:
        header.append("est. time left")
    lines += ["## Per module", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rel, m in data["modules"].items():
        if not m["mutants"]:
            continue
        row = [f"`{rel}`", m["scope"], str(m["mutants"]), *(str(m.get(c, 0)) for c in columns), pct(m["score"])]
        if baseline:
            row.append(pct(then[rel]["score"]) if rel in then else "–")
        row.append(f"{m['seconds']:.0f} s")
        if unfinished:
            row.append(f"{m['seconds_left_estimate'] / 60:.0f} min" if m.get("not checked") else "")
        lines.append("| " + " | ".join(row) + " |")
    by_scope: dict[str, Counter[str]] = defaultdict(Counter)
    for mut in data["mutants"]:
        by_scope[data["modules"][mut["file"]]["scope"]][mut["status"]] += 1
    lines += ["", "## Per scope", "", "| scope | mutants | score | worker time |", "|---|---|---|---|"]
    for scope_name, counts in by_scope.items():
        seconds = sum(m["seconds"] for m in data["modules"].values() if m["scope"] == scope_name)
        lines.append(f"| {scope_name} | {sum(counts.values())} | {pct(score(counts))} | {seconds:.0f} s |")
    slow = sorted(data["modules"].items(), key=lambda kv: -kv[1]["seconds"])[:5]
    lines += [
        "",
        "Slowest modules (worker seconds, summed over their mutants): "
        + ", ".join(f"`{rel}` {m['seconds']:.0f} s" for rel, m in slow)
        + ".",
        "",
        "## Survivors by module",
        "",
        "Each line: file:line, function, the mutation (removed → added), how many fast tests run the "
        "function, and a first guess at the kind of test that would kill it (from the mutation's shape; "
        "a guess, not a verdict). `mutmut show NAME` in .cache/mutation shows the full diff.",
    ]
    if not any(m["status"] in (*UNDETECTED, "suspicious", "segfault") for m in data["mutants"]):
        lines += ["", "None."]
    for rel in data["modules"]:
        alive = [m for m in data["mutants"] if m["file"] == rel and m["status"] not in (*DETECTED, "not checked")]
        if not alive:
            continue
        lines += ["", f"### `{rel}` ({len(alive)})", ""]
        uncovered: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for m in alive:
            if m["status"] == "no tests":
                uncovered[m["function"]].append(m)
                continue
            where = f"{rel}:{m.get('line') or '?'}"
            status = "" if m["status"] == "survived" else f" **{m['status']}**"
            lines.append(
                f"- `{where}` `{m['function']}`{status}: `{clip(m.get('removed', ''))}` → "
                f"`{clip(m.get('added', ''))}` ({m['tests']} tests) — {m.get('hint', '')} "
                f"<sub>{m['name'].rpartition('.')[2]}</sub>"
            )
        for function, ms in uncovered.items():
            first = min((m.get("line") or 0) for m in ms)
            lines.append(
                f"- `{rel}:{first or '?'}` `{function}` **no tests**: {len(ms)} mutants; no fast test runs this "
                "function (only integration tests, or none)"
            )
    gaps = {rel: m["not_mutated"] for rel, m in data["modules"].items() if m["not_mutated"]}
    if gaps:
        lines += [
            "",
            "## Not mutated",
            "",
            "mutmut 3 mutates function bodies only. Not mutated here: module-level constants and class "
            "bodies (dataclass fields, pydantic `Field(...)` bounds), and these decorated functions:",
            "",
        ]
        lines += [f"- `{rel}`: " + ", ".join(f"`{g}`" for g in found) for rel, found in gaps.items()]
    return "\n".join(lines) + "\n"


def clip(text: str, width: int = 140) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= width else text[: width - 1] + "…"


def to_json(data: dict[str, Any]) -> str:
    """Indented, but one line per mutant: readable, and a later run's file diffs mutant by mutant."""
    head = json.dumps({k: v for k, v in data.items() if k != "mutants"}, indent=1, ensure_ascii=False)
    rows = ",\n".join("  " + json.dumps(m, ensure_ascii=False) for m in data["mutants"])
    return head[:-2] + ',\n "mutants": [\n' + rows + "\n ]\n}\n"


def write_report(work: Path, out: Path, baseline_path: Path | None = None) -> dict[str, Any]:
    data = collect(work)
    baseline = None
    if baseline_path and baseline_path.exists() and baseline_path.resolve() != out.with_suffix(".json").resolve():
        baseline = json.loads(baseline_path.read_text())
    out.with_suffix(".json").write_text(to_json(data))
    out.with_suffix(".md").write_text(markdown(data, baseline))
    return data


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from the reports of several runs (e.g. the four groups of ~1 h each, run one after the
    other, each on its own commit): the modules and mutants of each, the totals recomputed, every run's
    time kept, and each part's source named. A module measured again in a later part replaces the
    earlier measurement (listed under ``replaced``): the later run saw the later code and tests."""
    modules: dict[str, Any] = {}
    mutants: dict[str, list[dict[str, Any]]] = {}
    measured_by: dict[str, str] = {}
    replaced: list[dict[str, str]] = []
    runs: list[dict[str, Any]] = []
    scopes: dict[str, Any] = {}
    for part in parts:
        for rel, module in part["modules"].items():
            if rel in modules:
                replaced.append({"module": rel, "was": measured_by[rel], "now": part["source"]})
            modules[rel] = module
            measured_by[rel] = part["source"]
            mutants[rel] = [m for m in part["mutants"] if m["file"] == rel]
        scopes.update(part["scopes"])
        label = ", ".join(part["scopes"])
        runs += [{**r, "scopes": label} for r in part.get("runs") or [{"elapsed_s": part["elapsed_s"]}]]
    every = [m for rel in modules for m in mutants[rel]]
    totals: Counter[str] = Counter(m["status"] for m in every)
    sources = sorted({p["source"] for p in parts})
    named = "; ".join(f"{', '.join(p['scopes'])}: {p['source']}" for p in parts)
    return {
        **parts[0],
        "source": sources[0] if len(sources) == 1 else named,
        "elapsed_s": round(sum(p["elapsed_s"] for p in parts), 1),
        "runs": runs,
        "scopes": scopes,
        "total": {"mutants": len(every), **{k: totals[k] for k in sorted(totals)}, "score": score(totals)},
        "modules": modules,
        "mutants": every,
        "replaced": replaced,
    }


def write_merged(out: Path, part_paths: list[Path], baseline_path: Path | None = None) -> dict[str, Any]:
    data = merge([json.loads(p.read_text()) for p in part_paths])
    baseline = json.loads(baseline_path.read_text()) if baseline_path and baseline_path.exists() else None
    out.with_suffix(".json").write_text(to_json(data))
    out.with_suffix(".md").write_text(markdown(data, baseline))
    return data


if __name__ == "__main__":
    # report.py [OUT]                    the report of the last run in .cache/mutation
    # report.py --merge OUT PART.json... one report from the reports of runs over disjoint scopes
    if sys.argv[1:2] == ["--merge"]:
        target = Path(sys.argv[2]).with_suffix("")
        write_merged(target, [Path(a) for a in sys.argv[3:]], HERE / "baseline.json")
    else:
        target = Path(sys.argv[1]).with_suffix("") if len(sys.argv) > 1 else HERE / "report"
        write_report(WORK, target, HERE / "baseline.json")
    print(f"{target.with_suffix('.md')} written")
