"""docker-compose.yml cannot run here (no Docker engine): validate it against the Compose Specification
schema and check that every service, file and variable it names exists and is read, and that it and
Prometheus's targets agree with the registry of services."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.cli import main as cli_main
from instance.registry import specs

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / ".cache" / "compose-spec" / "compose_spec.json"
REGISTERED = {s.name for s in specs()}
OURS = REGISTERED | {"gateway", "edge"}


def spec() -> dict[str, Any]:
    """The schema; it names draft 2019-09 by a URL form jsonschema does not know, so pin the draft."""
    schema: dict[str, Any] = json.loads(SPEC.read_text())
    schema.pop("$schema", None)
    return schema


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft201909Validator(spec()).validate(doc)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def known_variables() -> set[str]:
    out = {"HOST", "PORT"}
    for cls in (RuntimeSettings, GatewaySettings, *(s.component.settings_class for s in specs())):
        prefix = cls.model_config.get("env_prefix", "")
        out |= {f"{prefix}{name}".upper() for name in cls.model_fields}
    return out | {f"CG_GATEWAY_{s.name.upper()}_URL" for s in specs()}  # read by instance.registry


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    assert SPEC.exists(), "the Compose Specification schema is fetched by `make test`"
    validate(compose())


def test_a_broken_compose_file_is_caught() -> None:
    bad = compose()
    bad["services"]["gateway"]["ports"] = "8000"
    try:
        validate(bad)
    except jsonschema.ValidationError:
        return
    raise AssertionError("the schema accepted ports as a string")


def test_every_named_service_file_and_variable_exists() -> None:
    c = compose()
    services = c["services"]
    assert {"kafka", "mongo", "redis", "facilities", "mapping", "matching", "gateway", "edge", "prometheus"} <= set(
        services
    )
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["mongo"]["image"].startswith("mongo:")
    known = known_variables()
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        if name in OURS:
            assert (ROOT / svc["build"]["dockerfile"]).exists()
            unknown = set(svc["environment"]) - known
            assert not unknown, f"{name} sets variables no code reads: {unknown}"
            cmd = svc["command"]
            assert cmd[:2] == ["clustergrowth", "run"] and cmd[2] in OURS
            assert "healthcheck" in svc
    for name in ("kafka", "mongo"):
        assert "healthcheck" in services[name]
    prom = (ROOT / "deploy" / "prometheus.yml").read_text()
    for target in re.findall(r'"([a-z]+):\d+"', prom):
        assert target in services


def test_compose_and_prometheus_agree_with_the_registry() -> None:
    """Every registered service runs in compose on its registered port, the gateway knows its URL, and
    Prometheus scrapes it; nothing runs there that the registry does not know."""
    services = compose()["services"]
    ran = {svc["command"][2] for svc in services.values() if svc.get("command", [])[:2] == ["clustergrowth", "run"]}
    assert ran == OURS
    gateway = services["gateway"]["environment"]
    targets = set(re.findall(r'"([a-z]+:\d+)"', (ROOT / "deploy" / "prometheus.yml").read_text()))
    for s in specs():
        assert gateway[f"CG_GATEWAY_{s.name.upper()}_URL"] == f"http://{s.name}:{s.port}", s.name
        assert f"{s.name}:{s.port}" in targets, s.name
        assert services[s.name]["command"] == ["clustergrowth", "run", s.name, "--port", str(s.port)], s.name


def test_the_cli_accepts_the_services_compose_runs() -> None:
    for name in OURS:
        try:
            cli_main(["run", name, "--help"])
        except SystemExit as e:
            assert e.code == 0
