"""The Prometheus alert rules (deploy/prometheus/alerts.yml), Prometheus's configuration
(deploy/prometheus.yml) and the Grafana dashboard (deploy/grafana/clustergrowth.json): Prometheus's own
promtool checks the rules (expressions, durations, annotation templates) and the configuration, every
rule and dashboard expression parses with a PromQL parser (promql-parser, the Rust parser's binding)
and names only series the code exports, derived
from the prometheus_client metric objects themselves (a counter ``x`` is exposed as ``x_total``, a
histogram as ``x_bucket``/``x_sum``/``x_count``), plus ``up``, which Prometheus records per target."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Literal

import prometheus_client
import promql_parser
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clustergrowth import metrics
from tests.deploy.tooling import provision

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "clustergrowth.json"
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
}


def exported_series() -> set[str]:
    """The series names the services expose, from the metric objects in clustergrowth.metrics."""
    out = {"up"}
    for obj in vars(metrics).values():
        if isinstance(obj, prometheus_client.metrics.MetricWrapperBase):
            (family,) = obj.describe()
            out |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return out


def selected(expr: str) -> set[str]:
    """The metric names an expression selects (a selector without a name is refused: it hides one)."""
    names: list[str | None] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.append(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    assert names and None not in names, f"every selector names its metric: {expr}"
    return {n for n in names if n}


def duration(v: str) -> str:
    promql_parser.parse_duration(v)  # raises on a malformed duration
    return v


class Rule(BaseModel):
    """An alerting rule as Prometheus reads it (recording rules are not used here)."""

    model_config = ConfigDict(extra="forbid")
    alert: str = Field(pattern=r"^ClusterGrowth[A-Z][A-Za-z]+$")
    expr: str
    for_: str | None = Field(None, alias="for")
    keep_firing_for: str | None = None
    labels: dict[str, Literal["critical", "warning"]]
    annotations: dict[Literal["summary", "description"], str]

    @field_validator("for_", "keep_firing_for")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        return None if v is None else duration(v)


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    interval: str | None = None
    rules: list[Rule] = Field(min_length=1)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[Group] = Field(min_length=1)


def rule_file() -> RuleFile:
    return RuleFile.model_validate(yaml.safe_load(ALERTS.read_text()))


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] if p["type"] != "row" for t in p["targets"]]


def test_the_series_oracle_knows_how_prometheus_client_names_them() -> None:
    """Checked against the exposition text itself for each kind, so the suffix table is not taken on trust."""
    registry = prometheus_client.CollectorRegistry()
    prometheus_client.Counter("probe_events", "x", registry=registry).inc()
    prometheus_client.Gauge("probe_level", "x", registry=registry).set(1)
    prometheus_client.Histogram("probe_seconds", "x", registry=registry).observe(1)
    text = prometheus_client.generate_latest(registry).decode()
    series = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert {s for s in series if s.startswith("probe_")} == {
        "probe_events_total",
        "probe_events_created",
        "probe_level",
        "probe_seconds_bucket",
        "probe_seconds_sum",
        "probe_seconds_count",
        "probe_seconds_created",
    }


def test_the_alert_rules_have_prometheus_shape_and_unique_names() -> None:
    rules = [r for g in rule_file().groups for r in g.rules]
    assert len(rules) >= 8
    assert len({r.alert for r in rules}) == len(rules)
    assert all(r.labels["severity"] for r in rules)


def test_every_alert_expression_parses_and_names_exported_metrics() -> None:
    exported = exported_series()
    used: set[str] = set()
    for group in rule_file().groups:
        for rule in group.rules:
            names = selected(rule.expr)
            assert names <= exported, f"{rule.alert} names {names - exported}, which nothing exports"
            used |= names
    # the rules watch the HTTP front, the outbox relay and the consumers
    assert {"up", "http_requests_total", "outbox_oldest_age_seconds", "consumer_events_total"} <= used


def test_every_dashboard_query_parses_and_names_exported_metrics() -> None:
    exported = exported_series()
    exprs = dashboard_exprs()
    assert len(exprs) >= 12
    for expr in exprs:
        names = selected(expr)
        assert names <= exported, f"{expr} names {names - exported}"
    covered = set().union(*(selected(e) for e in exprs))
    assert covered >= {
        "up",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "outbox_pending",
        "outbox_oldest_age_seconds",
        "outbox_published_total",
        "consumer_events_total",
        "consumer_lag_seconds",
        "gateway_upstream_circuit_open",
    }


def test_the_dashboard_panels_do_not_overlap() -> None:
    board = json.loads(DASHBOARD.read_text())
    cells: set[tuple[int, int]] = set()
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, p["title"]
        cells |= mine


@pytest.mark.parametrize(
    "bad",
    [
        "sum(rate(http_requests_total[5m]) by (job)",  # unbalanced
        "rate(http_requests_total)",  # rate needs a range
        "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5x]))",  # bad duration
    ],
)
def test_the_parser_refuses_a_malformed_expression(bad: str) -> None:
    with pytest.raises(ValueError):
        promql_parser.parse(bad)


def test_a_metric_nothing_exports_is_caught() -> None:
    assert not selected("rate(http_request_total[5m])") <= exported_series()  # a typo: request, not requests
    with pytest.raises(ValueError):
        Rule.model_validate(
            {"alert": "ClusterGrowthX", "expr": "up == 0", "for": "5 minutes", "labels": {}, "annotations": {}}
        )


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(provision("promtool")), *args], capture_output=True, text=True, check=False)


def test_promtool_accepts_the_alert_rules() -> None:
    done = promtool("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {sum(len(g.rules) for g in rule_file().groups)} rules found" in done.stdout


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("{{ $labels.group }}", "{{ $labels.group | humanise }}"), 'function "humanise" not defined'),
        (("[15m]", "[15]"), "missing unit character in duration"),
        (("for: 10m", "for: ten minutes"), "not a valid duration string"),
    ],
)
def test_promtool_refuses_a_broken_rule_file(change: tuple[str, str], complaint: str, tmp_path: Path) -> None:
    text = ALERTS.read_text()
    assert change[0] in text
    broken = tmp_path / "alerts.yml"
    broken.write_text(text.replace(change[0], change[1], 1))
    done = promtool("check", "rules", str(broken))
    assert done.returncode != 0 and complaint in done.stdout + done.stderr, done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_configuration(tmp_path: Path) -> None:
    """As Compose mounts it, with the rule file where the container finds it (here: the repository's)."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = [str(ALERTS)]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    done = promtool("check", "config", str(copy))
    assert done.returncode == 0, done.stdout + done.stderr
