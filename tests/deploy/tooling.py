"""What the deployment tests share: the pinned tools and schemas (provisioned under .cache by
``deploy/native/provision.sh``; a missing one is an error, never a skip), the chart rendered by Helm, custom
resources checked against JSON Schemas built from their CRDs, and the environment variables the code reads
(derived from the settings classes, not listed by hand)."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic_settings import BaseSettings

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.registry import specs

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "clustergrowth"
PRODUCTION = CHART / "values-production.yaml"
KUBERNETES = "1.33"  # the Kubernetes version whose schemas every rendered object is validated against
JUNCTORS = {"allOf", "anyOf", "oneOf", "not"}


def provision(what: str) -> Path:
    out = subprocess.run(
        [str(ROOT / "deploy" / "native" / "provision.sh"), what], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


@functools.cache
def helm() -> str:
    return str(provision("helm"))


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=False)


def render(*values: Path, sets: tuple[str, ...] = (), namespace: str = "ie05") -> list[dict[str, Any]]:
    """``helm template`` of the chart for the stated Kubernetes version; the objects it renders."""
    args = ["template", "ie05", str(CHART), "--namespace", namespace, "--kube-version", f"{KUBERNETES}.0"]
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    done = run_helm(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


# --- custom resources -------------------------------------------------------------------------------------


def _json_schema(node: Any, structural: bool = True) -> Any:
    """An OpenAPI v3 (structural) schema as JSON Schema: ``nullable`` becomes a null type, int-or-string an
    either-or, and an object with declared properties refuses others (as the API server's strict field
    validation does) unless it preserves unknown fields. Inside allOf/anyOf/oneOf/not, which only add value
    checks in a structural schema, nothing is closed."""
    if isinstance(node, list):
        return [_json_schema(n, structural) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _json_schema(v, structural and k not in JUNCTORS)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-") and k != "nullable"
    }
    if isinstance(node.get("properties"), dict):  # a map of field names to schemas, not a schema
        out["properties"] = {name: _json_schema(sub, structural) for name, sub in node["properties"].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.pop("format", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        structural
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, from the pinned Strimzi and MongoDB community operator CRDs."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(provision("crds").glob("*/*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = _json_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    # The API server owns metadata's shape; the CRD only says it is an object.
                    schema["properties"]["metadata"] = {"type": "object"}
                    out[(f"{group}/{version['name']}", kind)] = schema
    return out


def validate_custom_resource(obj: dict[str, Any]) -> None:
    schema = crd_schemas()[(obj["apiVersion"], obj["kind"])]
    jsonschema.Draft7Validator(schema).validate(obj)


# --- settings ---------------------------------------------------------------------------------------------


def readable_variables() -> set[str]:
    """Every environment variable the services, the gateway and the CLI read: each settings class's fields
    under its prefix, and the per-service upstream URLs instance.registry reads."""
    out = {"HOST", "PORT"}
    classes: list[type[BaseSettings]] = [
        RuntimeSettings,
        GatewaySettings,
        *(s.component.settings_class for s in specs()),
    ]
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")
        out |= {f"{prefix}{name}".upper() for name in cls.model_fields}
    return out | {f"CG_GATEWAY_{s.name.upper()}_URL" for s in specs()}


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)[:2000]
